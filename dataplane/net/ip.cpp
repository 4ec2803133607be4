// IpAddr text conversion (control path).
#include "dataplane/net/ip.hpp"

#include <arpa/inet.h>

namespace espgw::net {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    std::string s(text);
    IpAddr a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
        a.family = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
        a.family = 6;
        return a;
    }
    return std::nullopt;
}

std::string IpAddr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == 4) inet_ntop(AF_INET, bytes, buf, sizeof buf);
    else if (family == 6) inet_ntop(AF_INET6, bytes, buf, sizeof buf);
    return buf;
}

}  // namespace espgw::net

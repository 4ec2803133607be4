#include "control/ike/identity.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

Identity Identity::parse(std::string_view text) {
    if (text.empty()) throw std::invalid_argument("empty identity");
    Identity id;
    if (text == "%any") {
        id.any = true;
        return id;
    }
    const std::string s(text);
    uint8_t buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
        id.type = IdType::IPV4_ADDR;
        id.data.assign(buf, buf + 4);
    } else if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
        id.type = IdType::IPV6_ADDR;
        id.data.assign(buf, buf + 16);
    } else if (text.front() == '@') {
        id.type = IdType::FQDN;
        id.data.assign(text.begin() + 1, text.end());
    } else if (text.find('@') != std::string_view::npos) {
        id.type = IdType::RFC822_ADDR;
        id.data.assign(text.begin(), text.end());
    } else {
        id.type = IdType::FQDN;
        id.data.assign(text.begin(), text.end());
    }
    return id;
}

Identity Identity::from_payload(const IdPayload& p) {
    Identity id;
    id.type = p.type;
    id.data = p.data;
    return id;
}

Bytes Identity::payload_body() const {
    Bytes b(4 + data.size(), 0);
    b[0] = static_cast<uint8_t>(type);
    std::copy(data.begin(), data.end(), b.begin() + 4);
    return b;
}

std::string Identity::to_string() const {
    if (any) return "%any";
    char buf[INET6_ADDRSTRLEN] = {};
    switch (type) {
        case IdType::IPV4_ADDR:
            if (data.size() == 4 && inet_ntop(AF_INET, data.data(), buf, sizeof buf)) return buf;
            break;
        case IdType::IPV6_ADDR:
            if (data.size() == 16 && inet_ntop(AF_INET6, data.data(), buf, sizeof buf)) return buf;
            break;
        case IdType::FQDN:
        case IdType::RFC822_ADDR: {
            std::string s;
            for (uint8_t c : data) s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
            return s;
        }
        default: break;
    }
    static const char* hex = "0123456789abcdef";
    std::string s = "id" + std::to_string(static_cast<int>(type)) + ":";
    for (uint8_t c : data) {
        s += hex[c >> 4];
        s += hex[c & 15];
    }
    return s;
}

bool Identity::matches(const Identity& peer) const noexcept {
    return any || (type == peer.type && data == peer.data);
}

}  // namespace espgw::ike

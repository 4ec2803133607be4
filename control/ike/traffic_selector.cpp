#include "control/ike/traffic_selector.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace espgw::ike {

TrafficSelector ts_from_cidr(std::string_view cidr) {
    const std::string s(cidr);
    const size_t slash = s.find('/');
    const std::string addr = s.substr(0, slash);
    TrafficSelector ts;
    uint8_t buf[16];
    size_t alen;
    if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
        alen = 4;
        ts.ts_type = TS_IPV4_ADDR_RANGE;
    } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
        alen = 16;
        ts.ts_type = TS_IPV6_ADDR_RANGE;
    } else {
        throw std::invalid_argument("bad traffic selector address '" + s + "'");
    }
    unsigned prefix = static_cast<unsigned>(alen * 8);
    if (slash != std::string::npos) {
        try {
            size_t used = 0;
            prefix = static_cast<unsigned>(std::stoul(s.substr(slash + 1), &used));
            if (used != s.size() - slash - 1) throw std::invalid_argument("");
        } catch (const std::exception&) {
            throw std::invalid_argument("bad prefix length in '" + s + "'");
        }
        if (prefix > alen * 8) throw std::invalid_argument("prefix too long in '" + s + "'");
    }
    ts.start_addr.assign(buf, buf + alen);
    ts.end_addr.assign(buf, buf + alen);
    for (size_t bit = prefix; bit < alen * 8; ++bit) {
        const uint8_t m = static_cast<uint8_t>(0x80 >> (bit % 8));
        ts.start_addr[bit / 8] &= static_cast<uint8_t>(~m);
        ts.end_addr[bit / 8] |= m;
    }
    return ts;
}

TrafficSelector ts_host(std::span<const uint8_t> addr) {
    TrafficSelector ts;
    ts.ts_type = addr.size() == 16 ? TS_IPV6_ADDR_RANGE : TS_IPV4_ADDR_RANGE;
    ts.start_addr.assign(addr.begin(), addr.end());
    ts.end_addr = ts.start_addr;
    return ts;
}

std::string to_string(const TrafficSelector& ts) {
    char a[INET6_ADDRSTRLEN] = {}, b[INET6_ADDRSTRLEN] = {};
    const int af = ts.ts_type == TS_IPV6_ADDR_RANGE ? AF_INET6 : AF_INET;
    inet_ntop(af, ts.start_addr.data(), a, sizeof a);
    inet_ntop(af, ts.end_addr.data(), b, sizeof b);
    std::string s = std::string(a) + ".." + b;
    if (ts.ip_proto != 0) s += " proto " + std::to_string(ts.ip_proto);
    if (ts.start_port != 0 || ts.end_port != 65535)
        s += " ports " + std::to_string(ts.start_port) + "-" + std::to_string(ts.end_port);
    return s;
}

std::string to_string(const std::vector<TrafficSelector>& list) {
    if (list.empty()) return "(none)";
    std::string s;
    for (const auto& ts : list) s += (s.empty() ? "" : ", ") + to_string(ts);
    return s;
}

std::string ts_unacceptable_reason(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                   const std::vector<TrafficSelector>& allowed_remote,
                                   const std::vector<TrafficSelector>& allowed_local) {
    return "traffic selectors unacceptable: proposed TSi " + to_string(tsi) + " TSr " + to_string(tsr) +
           "; allowed TSi " + (allowed_remote.empty() ? std::string("any") : to_string(allowed_remote)) + " TSr " +
           to_string(allowed_local);
}

std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& proposed,
                                    const std::vector<TrafficSelector>& allowed) {
    std::vector<TrafficSelector> out;
    for (const auto& p : proposed) {
        for (const auto& a : allowed) {
            if (p.ts_type != a.ts_type || p.start_addr.size() != a.start_addr.size()) continue;
            TrafficSelector r;
            r.ts_type = p.ts_type;
            // Protocol: 0 is "any"; two specific protocols must agree.
            if (p.ip_proto != 0 && a.ip_proto != 0 && p.ip_proto != a.ip_proto) continue;
            r.ip_proto = p.ip_proto != 0 ? p.ip_proto : a.ip_proto;
            r.start_port = std::max(p.start_port, a.start_port);
            r.end_port = std::min(p.end_port, a.end_port);
            if (r.start_port > r.end_port) continue;
            // Addresses compare as big-endian byte strings.
            r.start_addr = std::max(p.start_addr, a.start_addr);
            r.end_addr = std::min(p.end_addr, a.end_addr);
            if (r.start_addr > r.end_addr) continue;
            if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(std::move(r));
        }
    }
    return out;
}

}  // namespace espgw::ike

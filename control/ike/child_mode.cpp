// Tunnel or transport mode of a CHILD_SA (see the header; RFC 7296 §1.3.1, §2.23.1).
#include "control/ike/child_mode.hpp"

#include "control/ike/log.hpp"
#include "control/ike/traffic_selector.hpp"

#include <string_view>

namespace espgw::ike {

namespace {

bool is_single_host(const TrafficSelector& ts) {
    return ts.ts_type == TS_IPV4_ADDR_RANGE && ts.start_addr.size() == 4 && ts.start_addr == ts.end_addr;
}

void log_declined(const IkeSa& sa, std::string_view why) {
    log_info("{}: transport mode requested, answering in tunnel mode: {}", sa.who(), why);
}

}  // namespace

Payload use_transport_mode_notify() { return make_notify(NotifyType::USE_TRANSPORT_MODE); }

bool has_use_transport_mode(const Message& m) { return m.find_notify(NotifyType::USE_TRANSPORT_MODE) != nullptr; }

TrafficSelector ts_host4(uint32_t addr_host) { return ts_host(be32_bytes(addr_host)); }

bool ts_is_host(const std::vector<TrafficSelector>& ts, uint32_t addr_host) {
    if (ts.empty()) return false;
    const Bytes a = be32_bytes(addr_host);
    for (const auto& t : ts)
        if (!is_single_host(t) || t.start_addr != a) return false;
    return true;
}

std::vector<TrafficSelector> ts_nat_substitute(const std::vector<TrafficSelector>& ts, uint32_t addr_host) {
    std::vector<TrafficSelector> out;
    const Bytes* first = nullptr;
    for (const auto& t : ts) {
        // Like strongSwan's get_transport_nat_ts(): every selector must name the same
        // single host as the first one; protocol and ports are kept.
        if (!is_single_host(t) || (first && t.start_addr != *first)) continue;
        if (!first) first = &t.start_addr;
        TrafficSelector s = t;
        s.start_addr = s.end_addr = be32_bytes(addr_host);
        out.push_back(std::move(s));
    }
    return out;
}

ChildMode responder_mode(const IkeSa& sa, bool asked, const std::vector<TrafficSelector>& tsi,
                         const std::vector<TrafficSelector>& tsr, const std::vector<TrafficSelector>* allowed_remote,
                         const std::vector<TrafficSelector>& allowed_local, std::vector<TrafficSelector>& ts_remote,
                         std::vector<TrafficSelector>& ts_local) {
    auto narrow_both = [&](const std::vector<TrafficSelector>& i, const std::vector<TrafficSelector>& r) {
        ts_remote = narrow(i, allowed_remote ? *allowed_remote : i);
        ts_local = narrow(r, allowed_local);
    };
    const bool transport_conn = sa.conn && sa.conn->mode == ChildMode::transport;
    if (asked && transport_conn && !sa.virtual_ip && !sa.virtual_ip6) {
        std::vector<TrafficSelector> i = tsi, r = tsr;
        // §2.23.1: behind a NAT the initiator's TSi names its private address (and its
        // TSr ours as it knows it when we are NATed): the addresses the IKE packets
        // carried stand in for them, so the policy lookup and the SAs use what is on the wire.
        if (sa.nat_remote)
            if (auto s = ts_nat_substitute(tsi, sa.remote.addr_host); !s.empty()) i = std::move(s);
        if (sa.nat_local)
            if (auto s = ts_nat_substitute(tsr, sa.local.addr_host); !s.empty()) r = std::move(s);
        narrow_both(i, r);
        if (ts_is_host(ts_remote, sa.remote.addr_host) && ts_is_host(ts_local, sa.local.addr_host))
            return ChildMode::transport;
        log_declined(sa, "the traffic selectors are not host-to-host (the IKE addresses)");
    } else if (asked) {
        log_declined(sa, transport_conn ? "the IKE SA has a virtual IP" : "the connection's mode is tunnel");
    }
    narrow_both(tsi, tsr);
    return ChildMode::tunnel;
}

namespace {
// The host `addr_host` narrowed by a connection's configured selectors `conf` (protocol
// and port restrictions); a configured range without the address leaves the bare host.
std::vector<TrafficSelector> transport_ts(uint32_t addr_host, const std::vector<TrafficSelector>* conf) {
    const std::vector<TrafficSelector> host = {ts_host4(addr_host)};
    if (!conf || conf->empty()) return host;
    auto n = narrow(host, *conf);
    return n.empty() ? host : n;
}
}  // namespace

std::vector<TrafficSelector> transport_ts_local(const IkeSa& sa) {
    return transport_ts(sa.local.addr_host, sa.conn ? &sa.conn->local_ts : nullptr);
}

std::vector<TrafficSelector> transport_ts_remote(const IkeSa& sa) {
    return transport_ts(sa.remote.addr_host, sa.conn ? &sa.conn->remote_ts : nullptr);
}

std::string check_response_mode(const IkeSa& sa, ChildMode asked, bool echoed, std::vector<TrafficSelector>& ts_local,
                                std::vector<TrafficSelector>& ts_remote) {
    if (asked == ChildMode::tunnel)
        return echoed ? "we asked for tunnel mode, the responder answered N(USE_TRANSPORT_MODE)" : "";
    if (!echoed) return "we asked for transport mode, the responder answered in tunnel mode (no N(USE_TRANSPORT_MODE))";
    // §2.23.1, our side: the responder's selectors name the addresses it saw.
    if (sa.nat_local)
        if (auto s = ts_nat_substitute(ts_local, sa.local.addr_host); !s.empty()) ts_local = std::move(s);
    if (sa.nat_remote)
        if (auto s = ts_nat_substitute(ts_remote, sa.remote.addr_host); !s.empty()) ts_remote = std::move(s);
    if (!ts_is_host(ts_local, sa.local.addr_host) || !ts_is_host(ts_remote, sa.remote.addr_host))
        return "transport mode with traffic selectors that are not host-to-host (the IKE addresses)";
    return "";
}

}  // namespace espgw::ike

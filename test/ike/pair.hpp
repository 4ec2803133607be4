#pragma once
// Two IkeManagers back to back in one process (each with a capturing transport and a
// recording sink), for the exchange tests where both ends are ours: A at 10.77.0.1
// initiates, B at 10.77.0.2 responds; an optional NAT in front of A.
#include "peer.hpp"

#include <functional>
#include <string>

namespace ike_test {

inline const Endpoint A500{0x0a4d0001, 500}, B500{0x0a4d0002, 500};

/// Two managers and the wire between them. `nat` rewrites the initiator's source
/// address as a NAT would (the responder sees 198.51.100.9).
struct Pair {
    IkeConfig cfg_a, cfg_b;
    CaptureTransport tx_a, tx_b;
    RecordingSink sink_a, sink_b;
    IkeManager a, b;
    size_t seen_a = 0, seen_b = 0;
    bool nat = false;
    std::function<bool(const CaptureTransport::Sent&, bool from_a)> drop = [](auto&, bool) { return false; };

    Pair(const std::string& ca, const std::string& cb)
        : cfg_a(parse_config(ca)), cfg_b(parse_config(cb)), a(cfg_a, tx_a, sink_a), b(cfg_b, tx_b, sink_b) {}

    Endpoint natted(Endpoint e) const { return nat ? Endpoint{0xc6336409, static_cast<uint16_t>(e.port + 10000)} : e; }
    Endpoint unnat(Endpoint e) const {
        return nat && e.addr_host == 0xc6336409 ? Endpoint{A500.addr_host, static_cast<uint16_t>(e.port - 10000)} : e;
    }
    /// Delivers everything sent so far until both sides are quiet.
    void pump() {
        for (int round = 0; round < 50; ++round) {
            bool any = false;
            while (seen_a < tx_a.sent.size()) {
                const auto s = tx_a.sent[seen_a++];
                any = true;
                if (drop(s, true)) continue;
                b.on_message(s.remote, natted(s.local), s.msg);
            }
            while (seen_b < tx_b.sent.size()) {
                const auto s = tx_b.sent[seen_b++];
                any = true;
                if (drop(s, false)) continue;
                a.on_message(unnat(s.remote), s.local, s.msg);
            }
            if (!any) return;
        }
    }
};

}  // namespace ike_test

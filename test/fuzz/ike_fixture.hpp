#pragma once
// What the espgw-ike fuzz targets share: a transport that keeps what it sends (so two
// managers can talk in one process, as test/ike's exchange tests do), a sink that
// accepts every SA, and the answer check every CLI target applies.

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "control/ike/ike_manager.hpp"

namespace fuzz_ike {

using espgw::ike::Endpoint;

struct CaptureTransport final : espgw::ike::Transport {
    struct Sent {
        Endpoint local, remote;
        std::vector<uint8_t> msg;
    };
    std::vector<Sent> sent;
    void send(const Endpoint& local, const Endpoint& remote,
              std::span<const uint8_t> msg) override {
        sent.push_back({local, remote, {msg.begin(), msg.end()}});
    }
    void send_nat_keepalive(const Endpoint&, const Endpoint&) override {}
};

struct AcceptSink final : espgw::ike::SaSink {
    bool install(const espgw::ike::ChildSaInfo&, const espgw::ike::ChildSaKeys&) override {
        return true;
    }
    void remove(uint32_t, uint32_t) override {}
};

/// Delivers what `a` and `b` sent (from `seen_a`/`seen_b` on) to the other side until
/// both are quiet.
inline void pump(espgw::ike::IkeManager& a, CaptureTransport& ta, size_t& seen_a,
                 espgw::ike::IkeManager& b, CaptureTransport& tb, size_t& seen_b) {
    for (int round = 0; round < 16; ++round) {
        bool any = false;
        while (seen_a < ta.sent.size()) {
            const auto s = ta.sent[seen_a++];
            b.on_message(s.remote, s.local, s.msg);
            any = true;
        }
        while (seen_b < tb.sent.size()) {
            const auto s = tb.sent[seen_b++];
            a.on_message(s.remote, s.local, s.msg);
            any = true;
        }
        if (!any) return;
    }
}

/// A CLI answer is one JSON document: whatever a request or a configuration carried,
/// no raw control character may reach it (json_string escapes them).
inline void check_answer(std::string_view a) {
    if (a.empty()) std::abort();
    for (unsigned char c : a)
        if (c < 0x20) std::abort();
}

}  // namespace fuzz_ike

// SaReader / SaBinding: the worker's view of the SA and SPD tables.
// INTERIM until dataplane/tables lands (then this file becomes a thin adapter over
// tables/reader.hpp): the config's static SAs, built once at start and never changed,
// looked up by a scan over the few of them; the SPD is the config's policy list, first
// match by priority. Single worker only (per-SA state is not handed off).
#include "dataplane/dp/sa.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "dataplane/dp/dataplane.hpp"

namespace espgw::dp {

namespace {
/// RFC 4301 §4.4.2.1 lifetimes in bytes and packets; 0 = no limit. The flags are
/// written by the owning worker and read by stats (relaxed: a report, not a sync).
struct Lifetime {
    uint64_t soft_bytes = 0, hard_bytes = 0, soft_packets = 0, hard_packets = 0;
    uint64_t soft_hit = 0, hard_hit = 0;

    void set(const SaEntry& e) {
        soft_bytes = e.soft_bytes;
        hard_bytes = e.hard_bytes;
        soft_packets = e.soft_packets;
        hard_packets = e.hard_packets;
    }
    void charge(uint64_t packets, uint64_t bytes) noexcept {
        if (!soft_hit && ((soft_bytes && bytes >= soft_bytes) || (soft_packets && packets >= soft_packets)))
            cnt_add(soft_hit);  // the control process rekeys on this (stats "soft_expired")
        if (!hard_hit && ((hard_bytes && bytes >= hard_bytes) || (hard_packets && packets >= hard_packets)))
            cnt_add(hard_hit);
    }
};
struct StaticIn {
    esp::InboundSa sa;
    esp::InboundState st;
    uint32_t id;
    Lifetime life;
};
struct StaticOut {
    esp::OutboundSa sa;
    esp::OutboundState st;
    uint32_t id;
    Lifetime life;
};
}  // namespace

struct SaBinding::Impl {
    std::vector<std::unique_ptr<StaticIn>> in;
    std::vector<std::unique_ptr<StaticOut>> out;
    std::vector<int32_t> out_of_cfg;  ///< config SA index -> out index (-1: inbound)
};

struct SaReader::Impl {
    const Config* cfg;
    SaBinding::Impl* tables;
};

SaBinding::SaBinding(Dataplane& dp) : impl(std::make_unique<Impl>()) {
    bool rss = false;
    for (const PortConfig& p : dp.cfg.ports) rss |= p.queues > 1;
    if (!dp.cfg.sas.empty() && rss && dp.cfg.dataplane.workers > 1)
        throw std::runtime_error("static SAs with several workers and RSS need the shared tables' per-SA owner "
                                 "hand-off: use workers = 1 or queues = 1 for now");
    for (const SaEntry& e : dp.cfg.sas) {
        std::string err;
        if (e.direction == SaDirection::in) {
            auto s = std::make_unique<StaticIn>();
            if (!esp::inbound_sa_init(s->sa, e.sa, e.enc_keymat, e.auth_key, &err))
                throw std::runtime_error(fmt::format("sa id {}: {}", e.id, err));
            esp::inbound_state_init(s->st, s->sa);
            s->id = e.id;
            s->life.set(e);
            impl->in.push_back(std::move(s));
            impl->out_of_cfg.push_back(-1);
        } else {
            auto s = std::make_unique<StaticOut>();
            if (!esp::outbound_sa_init(s->sa, e.sa, e.enc_keymat, e.auth_key, &err))
                throw std::runtime_error(fmt::format("sa id {}: {}", e.id, err));
            esp::outbound_state_init(s->st, s->sa);
            s->id = e.id;
            s->life.set(e);
            impl->out_of_cfg.push_back(static_cast<int32_t>(impl->out.size()));
            impl->out.push_back(std::move(s));
        }
    }
}

SaBinding::~SaBinding() {
    for (auto& s : impl->in) esp::sa_wipe(s->sa);
    for (auto& s : impl->out) esp::sa_wipe(s->sa);
}

std::string SaBinding::stats_json() const {
    std::string j = "[";
    bool first = true;
    for (auto& s : impl->in) {
        j += fmt::format("{}{{\"id\":{},\"direction\":\"in\",\"spi\":{},\"packets\":{},\"bytes\":{},"
                         "\"soft_expired\":{},\"hard_expired\":{}}}",
                         first ? "" : ",", s->id, s->sa.spi, cnt_read(s->st.packets), cnt_read(s->st.bytes),
                         cnt_read(s->life.soft_hit) != 0, cnt_read(s->life.hard_hit) != 0);
        first = false;
    }
    for (auto& s : impl->out) {
        j += fmt::format("{}{{\"id\":{},\"direction\":\"out\",\"spi\":{},\"packets\":{},\"bytes\":{},"
                         "\"seq\":{},\"soft_expired\":{},\"hard_expired\":{}}}",
                         first ? "" : ",", s->id, s->sa.spi, cnt_read(s->st.packets), cnt_read(s->st.bytes),
                         cnt_read(s->st.seq), cnt_read(s->life.soft_hit) != 0, cnt_read(s->life.hard_hit) != 0);
        first = false;
    }
    return j + "]";
}

SaReader::SaReader(Dataplane& dp, uint32_t) : impl_(std::make_unique<Impl>(Impl{&dp.cfg, dp.sa->impl.get()})) {}
SaReader::~SaReader() = default;

bool SaReader::inbound(uint32_t spi, InboundRef& r) noexcept {
    for (auto& s : impl_->tables->in)
        if (s->sa.spi == spi) {
            r = {&s->sa, &s->st, s->id, s->life.hard_hit != 0};
            return true;
        }
    return false;
}

namespace {
bool prefix_match(const Prefix& p, uint8_t family, const uint8_t* a) noexcept {
    if (p.addr.family != family) return false;
    uint32_t full = p.len / 8, rem = p.len % 8;
    if (std::memcmp(a, p.addr.bytes, full) != 0) return false;
    if (rem == 0) return true;
    auto mask = static_cast<uint8_t>(0xff << (8 - rem));
    return (a[full] & mask) == (p.addr.bytes[full] & mask);
}
}  // namespace

SpdAction SaReader::spd(const Selectors& s, OutboundRef& sa) noexcept {
    sa = {};
    for (const PolicyConfig& p : impl_->cfg->policies) {
        if (!prefix_match(p.src, s.family, s.src) || !prefix_match(p.dst, s.family, s.dst)) continue;
        if (p.proto && p.proto != s.proto) continue;
        if (s.src_port < p.src_port_lo || s.src_port > p.src_port_hi) continue;
        if (s.dst_port < p.dst_port_lo || s.dst_port > p.dst_port_hi) continue;
        switch (p.action) {
        case PolicyAction::bypass: return SpdAction::bypass;
        case PolicyAction::discard: return SpdAction::discard;
        case PolicyAction::protect: {
            int32_t o = impl_->tables->out_of_cfg[p.sa_index];
            if (o >= 0) {
                StaticOut& so = *impl_->tables->out[o];
                sa = {&so.sa, &so.st, so.id, so.life.hard_hit != 0};
            }
            return SpdAction::protect;
        }
        }
    }
    return SpdAction::no_match;
}

void SaReader::charge_inbound(const InboundRef& r, uint32_t) noexcept {
    // esp::inbound_finish already counted the packet in r.st.
    for (auto& s : impl_->tables->in)
        if (&s->st == r.st) s->life.charge(s->st.packets, s->st.bytes);
}
void SaReader::charge_outbound(const OutboundRef& r, uint32_t) noexcept {
    for (auto& s : impl_->tables->out)
        if (&s->st == r.st) s->life.charge(s->st.packets, s->st.bytes);
}
void SaReader::quiescent() noexcept {}
void SaReader::offline() noexcept {}

}  // namespace espgw::dp

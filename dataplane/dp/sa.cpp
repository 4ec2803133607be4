// SaReader / SaBinding: the worker's view of the SA and SPD tables.
// Interim until dataplane/tables lands: the SPD is the config's policy list (read-only,
// first match by priority) and no SA is installed (protect → no_sa).
#include "dataplane/dp/sa.hpp"

#include <cstring>

#include "dataplane/dp/dataplane.hpp"

namespace espgw::dp {

struct SaReader::Impl {
    const Config* cfg;
};

struct SaBinding::Impl {};

SaBinding::SaBinding(Dataplane&) : impl(std::make_unique<Impl>()) {}
SaBinding::~SaBinding() = default;
std::string SaBinding::stats_json() const { return "[]"; }

SaReader::SaReader(Dataplane& dp, uint32_t) : impl_(std::make_unique<Impl>(Impl{&dp.cfg})) {}
SaReader::~SaReader() = default;

bool SaReader::inbound(uint32_t, InboundRef&) noexcept { return false; }

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
        case PolicyAction::protect: return SpdAction::protect;
        }
    }
    return SpdAction::no_match;
}

void SaReader::charge_inbound(const InboundRef&, uint32_t) noexcept {}
void SaReader::charge_outbound(const OutboundRef&, uint32_t) noexcept {}
void SaReader::quiescent() noexcept {}
void SaReader::offline() noexcept {}

}  // namespace espgw::dp

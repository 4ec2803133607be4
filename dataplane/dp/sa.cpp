// SaReader / SaBinding: a thin adapter from the worker pipeline to the shared tables
// (dataplane/tables): the primary creates the tables, installs the config's static
// SAs and policies through the writer API, and each worker reads through its own
// tables::Reader (RCU reader id = worker index).
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/stats.hpp"

#include <rte_prefetch.h>

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/route.hpp"
#include "dataplane/dp/spd_cache.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/tables/publish.hpp"
#include "dataplane/tables/reader.hpp"
#include "dataplane/tables/spd.hpp"
#include "dataplane/tables/writer.hpp"

namespace espgw::dp {

struct SaBinding::Impl {
    std::unique_ptr<tables::Tables> t;
};

namespace {

constexpr SpdAction action_of(tables::SpdMatch::Kind k) noexcept {
    switch (k) {
    case tables::SpdMatch::protect: return SpdAction::protect;
    case tables::SpdMatch::bypass: return SpdAction::bypass;
    case tables::SpdMatch::discard: return SpdAction::discard;
    case tables::SpdMatch::no_match: break;
    }
    return SpdAction::no_match;
}

/// Prefetches what the transform and the engine read of a cold SA (with many SAs
/// every packet's is): the control fields after the session (flags, SPI, sizes, the
/// outbound header template), the session's suite / salt line (the engine reads it
/// first), the AES round keys and the lines of GHASH key powers a short packet uses
/// (gcm_native's or intel-ipsec-mb's: crypto::gcm_short_hkeys_offset).
template <class Sa>
inline void prefetch_sa(const Sa& sa) noexcept {
    rte_prefetch0(&sa.spi);
    rte_prefetch0(&sa.session.salt);
    const auto* k = reinterpret_cast<const uint8_t*>(&sa.session.mb);
    for (uint32_t off = 0; off < 256; off += 64) rte_prefetch0(k + off);
    const auto* s = reinterpret_cast<const uint8_t*>(&sa.session);
    const uint32_t h = crypto::gcm_short_hkeys_offset(), lines = crypto::gcm_short_hkeys_lines();
    for (uint32_t l = 0; l < lines; ++l) rte_prefetch0(s + h + 64 * l);
}

}  // namespace

struct SaReader::Impl {
    tables::Reader r;
    SpdFlowCache spd_cache;
    Impl(tables::Tables& t, uint32_t w, uint32_t cache_entries) : r(t, w), spd_cache(cache_entries) {}
};

tables::Policy to_table_policy(const PolicyConfig& p) {
    tables::Policy o;
    o.priority = p.priority;
    o.family = p.dst.addr.family;
    o.src_len = p.src.len;
    o.dst_len = p.dst.len;
    o.proto = p.proto;
    std::memcpy(o.src, p.src.addr.bytes, 16);
    std::memcpy(o.dst, p.dst.addr.bytes, 16);
    o.src_port_lo = p.src_port_lo;
    o.src_port_hi = p.src_port_hi;
    o.dst_port_lo = p.dst_port_lo;
    o.dst_port_hi = p.dst_port_hi;
    o.action = p.action == PolicyAction::protect  ? tables::PolicyAction::protect
               : p.action == PolicyAction::bypass ? tables::PolicyAction::bypass
                                                  : tables::PolicyAction::discard;
    o.sa_id = p.sa_id;
    return o;
}

SaBinding::SaBinding(Dataplane& dp) : impl(std::make_unique<Impl>()) {
    const DataplaneConfig& d = dp.cfg.dataplane;
    tables::Limits lim;
    lim.max_sas = d.max_sas;
    lim.max_ids = kMaxSaId + 1;
    lim.max_policies = d.max_policies;
    lim.max_routes = d.max_routes;
    lim.workers = d.workers;
    impl->t = tables::Tables::create(kTablesName, lim);
    for (const SaEntry& e : dp.cfg.sas) {
        tables::SaParams p;
        p.id = e.id;
        p.dir = e.direction == SaDirection::in ? tables::Direction::in : tables::Direction::out;
        p.cfg = e.sa;
        p.enc_keymat = e.enc_keymat;
        p.auth_key = e.auth_key;
        p.life = {e.soft_bytes, e.hard_bytes, e.soft_packets, e.hard_packets};
        std::vector<std::string> unplaced;
        p.fw_groups = tables::tag_mask(*impl->t, 0, e.groups, &unplaced);
        if (!e.connection.empty()) p.fw_conn = tables::tag_mask(*impl->t, 1, {e.connection}, &unplaced);
        if (!unplaced.empty())
            throw std::runtime_error(fmt::format("sa id {}: no firewall tag bit left for '{}' (32 per kind)", e.id,
                                                 unplaced.front()));
        tables::WriteResult r = tables::install_sa(*impl->t, p);
        if (!r.ok()) throw std::runtime_error(fmt::format("sa id {}: {}", e.id, r.error));
    }
    install_routes(dp.cfg, *impl->t);
    for (const PolicyConfig& p : dp.cfg.policies) {
        uint32_t pid = 0;
        tables::WriteResult r = tables::install_policy(*impl->t, to_table_policy(p), &pid);
        if (!r.ok()) throw std::runtime_error(fmt::format("policy priority {}: {}", p.priority, r.error));
    }
    tables::refresh(*impl->t);
}

SaBinding::~SaBinding() {
    if (impl->t) tables::release_published(*impl->t);
}

tables::Tables& SaBinding::tables() const noexcept { return *impl->t; }

void SaBinding::control_tick() { tables::refresh(*impl->t); }

std::string SaBinding::stats_json() const {
    std::string j = "[";
    bool first = true;
    for (const tables::SaInfo& s : tables::list_sas(*impl->t)) {
        j += fmt::format(
            "{}{{\"id\":{},\"direction\":\"{}\",\"spi\":{},\"mode\":\"{}\",\"udp_encap\":{},\"owner\":{},\"packets\":{},\"bytes\":{},\"seq\":{},"
            "\"soft_expired\":{},\"hard_expired\":{},\"soft_event\":{},\"hard_event\":{},\"life\":{{\"soft_bytes\":{},\"hard_bytes\":{},"
            "\"soft_packets\":{},\"hard_packets\":{}}},\"drops\":{{",
            first ? "" : ",", s.id, s.dir == tables::Direction::in ? "in" : "out", s.spi,
            s.mode == esp::Mode::transport ? "transport" : "tunnel", s.udp_encap, s.owner, s.counters.packets,
            s.counters.bytes, s.counters.seq, s.counters.soft_expired, s.counters.hard_expired, s.counters.soft_event, s.counters.hard_event, s.life.soft_bytes,
            s.life.hard_bytes, s.life.soft_packets, s.life.hard_packets);
        for (uint32_t i = 0; i < tables::kSaDropCount; ++i)
            j += fmt::format("{}\"{}\":{}", i ? "," : "", tables::sa_drop_name(static_cast<tables::SaDrop>(i)),
                             s.counters.drops.n[i]);
        j += "}";
        // Firewall tags of the tunnel (names from the shared registry).
        if (s.fw_groups || s.fw_conn) {
            auto names = [&](uint32_t kind, uint32_t mask) {
                const auto all = tables::tag_names(*impl->t, kind);
                std::string o = "[";
                for (uint32_t b = 0; b < all.size(); ++b)
                    if (mask >> b & 1) o += fmt::format("{}\"{}\"", o.size() > 1 ? "," : "", json_escape(all[b]));
                return o + "]";
            };
            j += fmt::format(",\"groups\":{},\"connection\":{}", names(0, s.fw_groups), names(1, s.fw_conn));
        }
        j += "}";
        first = false;
    }
    return j + "]";
}

SaReader::SaReader(Dataplane& dp, uint32_t worker) : impl_(std::make_unique<Impl>(*dp.sa->impl->t, worker, dp.cfg.dataplane.spd_cache_entries)) {}
SaReader::~SaReader() = default;

bool SaReader::inbound(uint32_t spi, InboundRef& r) noexcept {
    tables::InRef ir;
    if (!impl_->r.inbound(spi, ir)) return false;
    r = {ir.sa, ir.st, ir.id, ir.owner, ir.dead, ir.slot};
    return true;
}

uint64_t SaReader::inbound_burst(const uint32_t* spi, uint32_t n, InboundRef* out) noexcept {
    // A burst usually holds runs of one SPI (a flow's packets arrive back to back): the
    // hash lookup runs once per run, on the distinct SPIs only.
    uint32_t uniq[64];
    uint8_t run_of[64];
    uint32_t nu = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (i == 0 || spi[i] != spi[i - 1]) uniq[nu++] = spi[i];
        run_of[i] = static_cast<uint8_t>(nu - 1);
    }
    tables::InRef ir[64];
    const uint64_t found = impl_->r.inbound_burst(uniq, nu, ir);
    for (uint64_t m = found; m != 0; m &= m - 1) {
        const auto u = static_cast<uint32_t>(__builtin_ctzll(m));
        prefetch_sa(*ir[u].sa);
        rte_prefetch0(ir[u].st);            // replay window top and size
        rte_prefetch0(&ir[u].st->packets);  // the counters inbound_finish bumps
    }
    uint64_t hits = 0;
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t u = run_of[i];
        if (!(found >> u & 1)) continue;
        out[i] = {ir[u].sa, ir[u].st, ir[u].id, ir[u].owner, ir[u].dead, ir[u].slot};
        hits |= uint64_t{1} << i;
    }
    return hits;
}

SpdAction SaReader::spd(const Selectors& s, OutboundRef& sa) noexcept {
    SpdAction a;
    spd_burst(&s, 1, &a, &sa);
    return a;
}

void SaReader::spd_burst(const Selectors* s, uint32_t n, SpdAction* act, OutboundRef* sa) noexcept {
    constexpr uint32_t kChunk = tables::Classifier::kBurst;
    BurstArray<tables::SpdKey, kChunk> k;
    BurstArray<tables::SpdMatch, kChunk> m;
    BurstArray<tables::SpdMatch, kChunk> km;
    BurstArray<SpdFlowCache::Key, kChunk> ck;
    uint32_t set[kChunk];
    uint32_t miss_at[kChunk];
    // The cache holds one generation's verdicts (the classify below may already use a
    // newer one: then the next burst drops what it cached). Generation 0: no SPD yet.
    const uint64_t gen = impl_->r.spd_generation();
    SpdFlowCache& cache = impl_->spd_cache;
    cache.use_generation(gen);
    for (uint32_t b = 0; b < n; b += kChunk) {
        const uint32_t c = n - b < kChunk ? n - b : kChunk;
        // Pass 1: every IPv4 packet's set, prefetched (with many flows they miss).
        for (uint32_t i = 0; i < c; ++i) {
            const Selectors& x = s[b + i];
            set[i] = ~0u;
            if (x.family == 4 && gen != 0) {
                ck[i] = cache.key(x.src, x.dst, x.proto, x.src_port, x.dst_port);
                set[i] = cache.set_of(ck[i]);
                cache.prefetch(set[i]);
            }
        }
        // Pass 2: hits take the cached verdict; misses go to rte_acl together.
        uint32_t nk = 0;
        for (uint32_t i = 0; i < c; ++i) {
            if (set[i] != ~0u) {
                if (cache.find(set[i], ck[i], m[i])) continue;
            }
            const Selectors& x = s[b + i];
            k[nk] = {x.family, x.proto, x.src_port, x.dst_port, x.src, x.dst};
            miss_at[nk++] = i;
        }
        if (nk != 0) {
            impl_->r.spd_burst(k.data(), km.data(), nk);
            for (uint32_t j = 0; j < nk; ++j) {
                const uint32_t i = miss_at[j];
                m[i] = km[j];
                if (set[i] != ~0u) cache.insert(set[i], ck[i], km[j]);
            }
        }
        if (sa == nullptr) {  // verdicts only (the inbound policy check)
            for (uint32_t i = 0; i < c; ++i) act[b + i] = action_of(m[i].kind);
            continue;
        }
        // The SAs, in passes so that with many SAs the misses of the burst overlap: the
        // id entries, then the slots' records, then the references. Consecutive packets
        // naming one SA form a run with one lookup: the passes go over the runs.
        const tables::Reader& r = impl_->r;
        uint32_t run_first[kChunk];  // packet index of each run's first packet
        uint8_t run_of[kChunk];      // protect packet → its run
        uint32_t slot[kChunk];
        BurstArray<OutboundRef, kChunk> run_ref;
        uint32_t nr = 0;
        for (uint32_t i = 0; i < c; ++i) {
            act[b + i] = action_of(m[i].kind);
            if (act[b + i] != SpdAction::protect) continue;
            if (nr == 0 || m[run_first[nr - 1]].sa_id != m[i].sa_id) {
                run_first[nr++] = i;
                r.prefetch_out_id(m[i].sa_id);
            }
            run_of[i] = static_cast<uint8_t>(nr - 1);
        }
        for (uint32_t h = 0; h < nr; ++h) {
            slot[h] = r.out_slot(m[run_first[h]].sa_id);
            if (slot[h] == tables::kNoSlot) continue;
            r.prefetch_out(slot[h]);
            prefetch_sa(r.out_sa(slot[h]));
            rte_prefetch0(&r.out_sa(slot[h]).hdr_template);
            rte_prefetch0(&r.out_state(slot[h]));
        }
        for (uint32_t h = 0; h < nr; ++h) {
            run_ref[h] = {};  // sa == nullptr: the policy names no installed SA (no_sa)
            if (slot[h] == tables::kNoSlot) continue;
            tables::OutRef t;
            r.out_ref(slot[h], t);
            run_ref[h] = {t.sa, t.st, t.id, t.owner, t.dead, t.slot};
        }
        for (uint32_t i = 0; i < c; ++i)
            sa[b + i] = act[b + i] == SpdAction::protect ? run_ref[run_of[i]] : OutboundRef{};
    }
}

void SaReader::charge_inbound(const InboundRef& r) noexcept {
    tables::InRef ir{r.sa, r.st, r.slot, r.id, r.owner, r.expired};
    impl_->r.charge(ir);
}

void SaReader::charge_outbound(const OutboundRef& r) noexcept {
    tables::OutRef o{r.sa, r.st, r.slot, r.id, r.owner, r.expired};
    impl_->r.charge(o);
}

uint64_t SaReader::fw_tags(const InboundRef& r) const noexcept { return impl_->r.fw_tags(r.slot); }
uint64_t SaReader::fw_tags(const OutboundRef& r) const noexcept { return impl_->r.fw_tags_out(r.slot); }

void SaReader::count_drop(const InboundRef& r, tables::SaDrop d) noexcept {
    impl_->r.count_drop(tables::InRef{r.sa, r.st, r.slot, r.id, r.owner, r.expired}, d);
}

void SaReader::count_drop(const OutboundRef& r, tables::SaDrop d) noexcept {
    impl_->r.count_drop(tables::OutRef{r.sa, r.st, r.slot, r.id, r.owner, r.expired}, d);
}

const tables::RouteHop* SaReader::route(uint8_t family, const uint8_t* dst) const noexcept {
    return impl_->r.route(family, dst);
}

void SaReader::quiescent() noexcept { impl_->r.quiescent(); }
void SaReader::offline() noexcept { impl_->r.offline(); }
void SaReader::online() noexcept { impl_->r.online(); }

}  // namespace espgw::dp

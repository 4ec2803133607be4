// Firewall rule set → rte_acl.
#include "dataplane/fw/classifier.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>

#include <fmt/format.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "dataplane/net/ip.hpp"

namespace espgw::fw {

namespace {

// rte_acl input: the first field is one byte; fields sharing an input_index fill 4
// bytes together; multi-byte fields are read big-endian (as on the wire).
struct AclKey {
    uint8_t proto;
    uint8_t pad[3];
    uint8_t src[4];
    uint8_t dst[4];
    uint16_t sport_be;
    uint16_t dport_be;
    uint8_t groups[4];  ///< big-endian tag bits (rte_acl reads multi-byte fields as on the wire)
    uint8_t conn[4];
    uint8_t dir[4];  ///< big-endian Direction bit
};
static_assert(sizeof(AclKey) == 28 && offsetof(AclKey, sport_be) == 12 && offsetof(AclKey, groups) == 16);

constexpr uint32_t kFields = 8;
RTE_ACL_RULE_DEF(AclRule, kFields);

rte_acl_field_def field(uint8_t type, uint8_t size, uint8_t index, uint8_t input, size_t offset) {
    rte_acl_field_def d{};
    d.type = type;
    d.size = size;
    d.field_index = index;
    d.input_index = input;
    d.offset = static_cast<uint32_t>(offset);
    return d;
}

rte_acl_config acl_config(size_t max_bytes) {
    rte_acl_config c{};
    c.num_categories = 1;
    c.num_fields = kFields;
    c.max_size = max_bytes;
    c.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey, proto));
    c.defs[1] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, offsetof(AclKey, src));
    c.defs[2] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, offsetof(AclKey, dst));
    c.defs[3] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, offsetof(AclKey, sport_be));
    c.defs[4] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, offsetof(AclKey, dport_be));
    // Tag bits: (key & mask) == value; a rule naming several groups is one rte_acl
    // rule per group (same priority and userdata), "any" is value 0 / mask 0.
    c.defs[5] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, 5, 4, offsetof(AclKey, groups));
    c.defs[6] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, 6, 5, offsetof(AclKey, conn));
    c.defs[7] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, 7, 6, offsetof(AclKey, dir));  // rule's direction bit
    return c;
}

void set_prefix(rte_acl_field& f, uint32_t net, uint8_t len) {
    const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    f.value.u32 = net & mask;  // rte_acl MASK values are host order
    f.mask_range.u32 = len;
}

}  // namespace

std::unique_ptr<Compiled> Compiled::build(const RuleSet& rs, uint32_t workers, uint32_t seq, size_t max_acl_bytes,
                                          std::string* why) {
    if (auto bad = validate(rs)) {
        *why = *bad;
        return nullptr;
    }
    const auto n = static_cast<uint32_t>(rs.rules.size());
    for (uint32_t i = 0; i < n; ++i) {
        const Rule& r = rs.rules[i];
        if (r.groups.size() + r.users.size() != static_cast<size_t>(__builtin_popcount(r.group_mask)) ||
            r.connections.size() != static_cast<size_t>(__builtin_popcount(r.conn_mask))) {
            *why = fmt::format("rule[{}]: group/connection names not resolved to tag bits", i);
            return nullptr;
        }
    }
    if (n >= RTE_ACL_MAX_PRIORITY) {
        *why = fmt::format("{} rules: at most {}", n, RTE_ACL_MAX_PRIORITY - 1);
        return nullptr;
    }
    std::unique_ptr<Compiled> c(new Compiled());
    c->rs_ = rs;
    c->seq_ = seq;
    c->workers_ = workers == 0 ? 1 : workers;
    const uint32_t per_line = 64 / sizeof(RuleHits) == 0 ? 1 : 64 / sizeof(RuleHits);
    c->stride_ = ((n + 2 + per_line - 1) / per_line) * per_line + per_line;  // + a line against false sharing
    c->hits_ = std::make_unique<RuleHits[]>(size_t{c->stride_} * c->workers_);

    std::vector<AclRule> acl;
    for (uint32_t i = 0; i < n; ++i) {
        const Rule& r = rs.rules[i];
        if (!r.enabled) continue;
        AclRule a{};
        a.data.category_mask = 1;
        a.data.priority = static_cast<int32_t>(n - i);  // rte_acl: highest priority wins = first rule
        a.data.userdata = i + 1;                        // 0 is "no match"
        a.field[0].value.u8 = r.proto;
        a.field[0].mask_range.u8 = r.proto == 0 ? 0 : 0xff;
        set_prefix(a.field[1], r.src_net, r.src_len);
        set_prefix(a.field[2], r.dst_net, r.dst_len);
        if (r.icmp_type >= 0) {  // ICMP: type in the source-port slot
            a.field[3].value.u16 = static_cast<uint16_t>(r.icmp_type);
            a.field[3].mask_range.u16 = static_cast<uint16_t>(r.icmp_type);
        } else {
            a.field[3].value.u16 = r.src_port_lo;
            a.field[3].mask_range.u16 = r.src_port_hi;
        }
        a.field[4].value.u16 = r.dst_port_lo;
        a.field[4].mask_range.u16 = r.dst_port_hi;
        a.field[7].value.u32 = static_cast<uint32_t>(r.direction);
        a.field[7].mask_range.u32 = static_cast<uint32_t>(r.direction);
        // One rte_acl rule per (group bit, connection bit) pair: OR within each list.
        for (uint32_t gm = r.group_mask ? r.group_mask : 0;;) {
            const uint32_t gbit = gm & (~gm + 1);  // lowest bit (0 when "any")
            for (uint32_t cm = r.conn_mask ? r.conn_mask : 0;;) {
                const uint32_t cbit = cm & (~cm + 1);
                a.field[5].value.u32 = gbit;
                a.field[5].mask_range.u32 = gbit;
                a.field[6].value.u32 = cbit;
                a.field[6].mask_range.u32 = cbit;
                acl.push_back(a);
                cm &= cm - 1;
                if (cm == 0) break;
            }
            gm &= gm - 1;
            if (gm == 0) break;
        }
    }
    if (acl.empty()) return c;

    const std::string name = fmt::format("fw{}", seq);
    rte_acl_param prm{};
    prm.name = name.c_str();
    prm.socket_id = SOCKET_ID_ANY;
    prm.rule_size = static_cast<uint32_t>(RTE_ACL_RULE_SZ(kFields));
    prm.max_rule_num = static_cast<uint32_t>(acl.size());
    c->ctx_ = rte_acl_create(&prm);
    if (c->ctx_ == nullptr) {
        *why = fmt::format("rte_acl_create {}: {}", name, rte_strerror(rte_errno));
        return nullptr;
    }
    int rc = rte_acl_add_rules(c->ctx_, reinterpret_cast<const rte_acl_rule*>(acl.data()), static_cast<uint32_t>(acl.size()));
    if (rc == 0) {
        const rte_acl_config cfg = acl_config(max_acl_bytes);
        rc = rte_acl_build(c->ctx_, &cfg);
    }
    if (rc != 0) {
        *why = fmt::format("rte_acl build of {} rules: {}", acl.size(), rte_strerror(-rc));
        return nullptr;  // ~Compiled frees the context
    }
    return c;
}

Compiled::~Compiled() { rte_acl_free(ctx_); }

void Compiled::classify(const FwKey* keys, int32_t* out, uint32_t n) const noexcept {
    auto dflt = [&](uint32_t i) { return keys[i].dir == Direction::to_tunnel ? kDefaultToTunnel : -1; };
    if (ctx_ == nullptr) {
        for (uint32_t i = 0; i < n; ++i) out[i] = dflt(i);
        return;
    }
    AclKey k[kBurst];
    const uint8_t* p[kBurst];
    uint32_t res[kBurst];
    for (uint32_t i = 0; i < n; ++i) {
        k[i].proto = keys[i].proto;
        k[i].pad[0] = k[i].pad[1] = k[i].pad[2] = 0;
        net::store_be32(k[i].src, keys[i].src);
        net::store_be32(k[i].dst, keys[i].dst);
        k[i].sport_be = rte_cpu_to_be_16(keys[i].src_port);
        k[i].dport_be = rte_cpu_to_be_16(keys[i].dst_port);
        net::store_be32(k[i].groups, keys[i].groups);
        net::store_be32(k[i].conn, keys[i].conn);
        net::store_be32(k[i].dir, static_cast<uint32_t>(keys[i].dir));
        p[i] = &k[i].proto;
    }
    if (rte_acl_classify(ctx_, p, res, n, 1) != 0) {
        for (uint32_t i = 0; i < n; ++i) out[i] = dflt(i);
        return;
    }
    for (uint32_t i = 0; i < n; ++i) out[i] = res[i] == 0 ? dflt(i) : static_cast<int32_t>(res[i]) - 1;
}

RuleHits Compiled::hits(int32_t idx) const noexcept {
    RuleHits t;
    for (uint32_t w = 0; w < workers_; ++w) {
        const RuleHits& h = hits_[w * stride_ + static_cast<uint32_t>(idx + 2)];
        t.packets += __atomic_load_n(&h.packets, __ATOMIC_RELAXED);
        t.bytes += __atomic_load_n(&h.bytes, __ATOMIC_RELAXED);
        const uint64_t lh = __atomic_load_n(&h.last_hit, __ATOMIC_RELAXED);
        if (lh > t.last_hit) t.last_hit = lh;
    }
    return t;
}

}  // namespace espgw::fw

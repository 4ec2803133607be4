// SPD classifier: policy records compiled into rte_acl contexts, and the burst lookup.
#include "dataplane/tables/spd.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace espgw::tables {

namespace {

// rte_acl input records. rte_acl reads multi-byte fields as big-endian, so addresses
// are copied as they are on the wire and ports are stored network order. The first
// field must be one byte; fields sharing an input_index must fill 4 bytes together.
struct AclKey4 {
    uint8_t proto;
    uint8_t pad[3];
    uint8_t src[4];
    uint8_t dst[4];
    uint16_t sport_be;
    uint16_t dport_be;
};
struct AclKey6 {
    uint8_t proto;
    uint8_t pad[3];
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport_be;
    uint16_t dport_be;
};
static_assert(offsetof(AclKey4, sport_be) == 12 && offsetof(AclKey6, sport_be) == 36);

constexpr uint32_t kFields4 = 5;   // proto, src, dst, sport, dport
constexpr uint32_t kFields6 = 11;  // proto, src[4 words], dst[4 words], sport, dport
RTE_ACL_RULE_DEF(AclRule4, kFields4);
RTE_ACL_RULE_DEF(AclRule6, kFields6);

rte_acl_field_def field(uint8_t type, uint8_t size, uint8_t index, uint8_t input, size_t offset) {
    rte_acl_field_def d{};
    d.type = type;
    d.size = size;
    d.field_index = index;
    d.input_index = input;
    d.offset = static_cast<uint32_t>(offset);
    return d;
}

rte_acl_config config4() {
    rte_acl_config c{};
    c.num_categories = 1;
    c.num_fields = kFields4;
    c.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey4, proto));
    c.defs[1] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, offsetof(AclKey4, src));
    c.defs[2] = field(RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, offsetof(AclKey4, dst));
    c.defs[3] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, offsetof(AclKey4, sport_be));
    c.defs[4] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, offsetof(AclKey4, dport_be));
    return c;
}

rte_acl_config config6() {
    rte_acl_config c{};
    c.num_categories = 1;
    c.num_fields = kFields6;
    c.defs[0] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(AclKey6, proto));
    for (uint8_t w = 0; w < 4; ++w) {
        c.defs[1 + w] = field(RTE_ACL_FIELD_TYPE_MASK, 4, static_cast<uint8_t>(1 + w), static_cast<uint8_t>(1 + w),
                              offsetof(AclKey6, src) + 4u * w);
        c.defs[5 + w] = field(RTE_ACL_FIELD_TYPE_MASK, 4, static_cast<uint8_t>(5 + w), static_cast<uint8_t>(5 + w),
                              offsetof(AclKey6, dst) + 4u * w);
    }
    c.defs[9] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 9, 9, offsetof(AclKey6, sport_be));
    c.defs[10] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, 10, 9, offsetof(AclKey6, dport_be));
    return c;
}

/// MASK field for address word `w` of a prefix: rule values are host order, the
/// mask is the number of leading bits of this word that the prefix covers.
void set_word(rte_acl_field& f, const uint8_t* addr, uint32_t w, uint32_t len) {
    uint32_t v;
    std::memcpy(&v, addr + 4 * w, 4);
    const uint32_t bits = len > 32 * w ? std::min<uint32_t>(32, len - 32 * w) : 0;
    const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    f.value.u32 = rte_be_to_cpu_32(v) & mask;
    f.mask_range.u32 = bits;
}

void set_common(rte_acl_field& proto, rte_acl_field& sport, rte_acl_field& dport, const Policy& p) {
    proto.value.u8 = p.proto;
    proto.mask_range.u8 = p.proto == 0 ? 0 : 0xff;
    sport.value.u16 = p.src_port_lo;
    sport.mask_range.u16 = p.src_port_hi;
    dport.value.u16 = p.dst_port_lo;
    dport.mask_range.u16 = p.dst_port_hi;
}

rte_acl_ctx* make_ctx(const std::string& name, uint32_t fields, uint32_t rules) {
    rte_acl_param prm{};
    prm.name = name.c_str();
    prm.socket_id = SOCKET_ID_ANY;
    prm.rule_size = static_cast<uint32_t>(RTE_ACL_RULE_SZ(fields));
    prm.max_rule_num = rules;
    rte_acl_ctx* c = rte_acl_create(&prm);
    if (c == nullptr) throw std::runtime_error(fmt::format("spd: rte_acl_create {}: {}", name, rte_strerror(rte_errno)));
    return c;
}

void add_and_build(rte_acl_ctx* c, const rte_acl_rule* rules, uint32_t n, const rte_acl_config& cfg,
                   const std::string& name) {
    int rc = rte_acl_add_rules(c, rules, n);
    if (rc == 0) rc = rte_acl_build(c, &cfg);
    if (rc != 0) {
        rte_acl_free(c);
        throw std::runtime_error(fmt::format("spd: rte_acl build {} ({} rules): {}", name, n, rte_strerror(-rc)));
    }
}

}  // namespace

Classifier::Classifier(const std::string& name, uint32_t seq, std::vector<PolicyRecord> policies,
                       uint64_t generation)
    : generation_(generation) {
    std::stable_sort(policies.begin(), policies.end(), [](const PolicyRecord& a, const PolicyRecord& b) {
        return a.p.priority != b.p.priority ? a.p.priority < b.p.priority : a.order < b.order;
    });
    const auto n = static_cast<uint32_t>(policies.size());
    std::vector<AclRule4> r4;
    std::vector<AclRule6> r6;
    actions_.reserve(n);
    for (uint32_t rank = 0; rank < n; ++rank) {
        const Policy& p = policies[rank].p;
        actions_.push_back({p.action == PolicyAction::protect  ? SpdMatch::protect
                            : p.action == PolicyAction::bypass ? SpdMatch::bypass
                                                               : SpdMatch::discard,
                            p.sa_id});
        // rte_acl: the highest priority wins; rank 0 (best) gets n. Unique priorities
        // make the first match deterministic (RFC 4301 §4.4.1: ordered SPD).
        rte_acl_rule_data d{};
        d.category_mask = 1;
        d.priority = static_cast<int32_t>(n - rank);
        d.userdata = rank + 1;  // 0 is rte_acl's "no match"
        if (p.family == 4) {
            AclRule4 r{};
            r.data = d;
            set_common(r.field[0], r.field[3], r.field[4], p);
            set_word(r.field[1], p.src, 0, p.src_len);
            set_word(r.field[2], p.dst, 0, p.dst_len);
            r4.push_back(r);
        } else {
            AclRule6 r{};
            r.data = d;
            set_common(r.field[0], r.field[9], r.field[10], p);
            for (uint32_t w = 0; w < 4; ++w) {
                set_word(r.field[1 + w], p.src, w, p.src_len);
                set_word(r.field[5 + w], p.dst, w, p.dst_len);
            }
            r6.push_back(r);
        }
    }
    if (n > RTE_ACL_MAX_PRIORITY) throw std::runtime_error("spd: too many policies");
    if (!r4.empty()) {
        const std::string nm = fmt::format("{}.a4.{}", name, seq);
        v4_ = make_ctx(nm, kFields4, static_cast<uint32_t>(r4.size()));
        const rte_acl_config c = config4();
        add_and_build(v4_, reinterpret_cast<const rte_acl_rule*>(r4.data()), static_cast<uint32_t>(r4.size()), c, nm);
    }
    if (!r6.empty()) {
        const std::string nm = fmt::format("{}.a6.{}", name, seq);
        v6_ = make_ctx(nm, kFields6, static_cast<uint32_t>(r6.size()));
        const rte_acl_config c = config6();
        try {
            add_and_build(v6_, reinterpret_cast<const rte_acl_rule*>(r6.data()), static_cast<uint32_t>(r6.size()), c, nm);
        } catch (...) {
            rte_acl_free(v4_);
            throw;
        }
    }
}

Classifier::~Classifier() {
    rte_acl_free(v4_);
    rte_acl_free(v6_);
}

void Classifier::classify(const SpdKey* keys, SpdMatch* out, uint32_t n) const noexcept {
    AclKey4 k4[kBurst];
    AclKey6 k6[kBurst];
    const uint8_t* p4[kBurst];
    const uint8_t* p6[kBurst];
    uint32_t i4[kBurst], i6[kBurst], res[kBurst];
    uint32_t n4 = 0, n6 = 0;
    for (uint32_t i = 0; i < n; ++i) {
        const SpdKey& k = keys[i];
        out[i] = SpdMatch{};
        if (k.family == 4 && v4_) {
            AclKey4& a = k4[n4];
            a.proto = k.proto;
            a.pad[0] = a.pad[1] = a.pad[2] = 0;
            std::memcpy(a.src, k.src, 4);
            std::memcpy(a.dst, k.dst, 4);
            a.sport_be = rte_cpu_to_be_16(k.src_port);
            a.dport_be = rte_cpu_to_be_16(k.dst_port);
            p4[n4] = &a.proto;
            i4[n4++] = i;
        } else if (k.family == 6 && v6_) {
            AclKey6& a = k6[n6];
            a.proto = k.proto;
            a.pad[0] = a.pad[1] = a.pad[2] = 0;
            std::memcpy(a.src, k.src, 16);
            std::memcpy(a.dst, k.dst, 16);
            a.sport_be = rte_cpu_to_be_16(k.src_port);
            a.dport_be = rte_cpu_to_be_16(k.dst_port);
            p6[n6] = &a.proto;
            i6[n6++] = i;
        }
    }
    if (n4 != 0 && rte_acl_classify(v4_, p4, res, n4, 1) == 0)
        for (uint32_t j = 0; j < n4; ++j)
            if (res[j] != 0) out[i4[j]] = actions_[res[j] - 1];
    if (n6 != 0 && rte_acl_classify(v6_, p6, res, n6, 1) == 0)
        for (uint32_t j = 0; j < n6; ++j)
            if (res[j] != 0) out[i6[j]] = actions_[res[j] - 1];
}

}  // namespace espgw::tables

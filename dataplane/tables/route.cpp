// RouteTable: route records compiled into rte_fib (IPv4) and rte_fib6 (IPv6).
#include "dataplane/tables/route.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_memory.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace espgw::tables {

RouteTable::RouteTable(const std::string& name, uint32_t seq, const std::vector<Route>& routes, bool fast,
                       uint64_t generation)
    : generation_(generation) {
    const int max_routes = static_cast<int>(std::max<size_t>(routes.size(), 16));
    const bool small_nh = routes.size() < 32000;  // 2-byte next hops hold index + 1
    const std::string n4 = fmt::format("{}.r4.{}", name, seq), n6 = fmt::format("{}.r6.{}", name, seq);
    rte_fib_conf c4{};
    c4.type = fast ? RTE_FIB_DIR24_8 : RTE_FIB_DUMMY;
    c4.default_nh = 0;
    c4.max_routes = max_routes;
    if (fast) {
        c4.dir24_8.nh_sz = small_nh ? RTE_FIB_DIR24_8_2B : RTE_FIB_DIR24_8_4B;
        c4.dir24_8.num_tbl8 = static_cast<uint32_t>(std::max(256, max_routes));
    }
    v4_ = rte_fib_create(n4.c_str(), SOCKET_ID_ANY, &c4);
    if (v4_ == nullptr) throw std::runtime_error(fmt::format("routes: rte_fib_create {}: {}", n4, rte_strerror(rte_errno)));
    rte_fib6_conf c6{};
    c6.type = fast ? RTE_FIB6_TRIE : RTE_FIB6_DUMMY;
    c6.default_nh = 0;
    c6.max_routes = max_routes;
    if (fast) {
        c6.trie.nh_sz = small_nh ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
        // A /64 needs up to 5 tbl8 groups below the 24-bit top level; /128 up to 13.
        c6.trie.num_tbl8 = static_cast<uint32_t>(std::max(1024, 6 * max_routes));
    }
    v6_ = rte_fib6_create(n6.c_str(), SOCKET_ID_ANY, &c6);
    if (v6_ == nullptr) {
        rte_fib_free(v4_);
        throw std::runtime_error(fmt::format("routes: rte_fib6_create {}: {}", n6, rte_strerror(rte_errno)));
    }
    hops_.reserve(routes.size());
    for (const Route& r : routes) {
        RouteHop h;
        h.port = r.port;
        h.family = r.family;
        h.via = r.via != 0;
        std::memcpy(h.gateway, r.gateway, sizeof h.gateway);
        hops_.push_back(h);
        const uint64_t nh = hops_.size();  // index + 1
        int rc;
        if (r.family == 4) {
            uint32_t a;
            std::memcpy(&a, r.prefix, 4);
            rc = rte_fib_add(v4_, rte_be_to_cpu_32(a), r.len, nh);
        } else {
            rc = rte_fib6_add(v6_, r.prefix, r.len, nh);
        }
        if (rc != 0) {
            rte_fib_free(v4_);
            rte_fib6_free(v6_);
            throw std::runtime_error(fmt::format("routes: adding /{} to {}: {}", r.len, r.family == 4 ? n4 : n6, rte_strerror(-rc)));
        }
    }
}

RouteTable::~RouteTable() {
    rte_fib_free(v4_);
    rte_fib6_free(v6_);
}

const RouteHop* RouteTable::lookup4(const uint8_t* dst) const noexcept {
    uint32_t a;
    std::memcpy(&a, dst, 4);
    a = rte_be_to_cpu_32(a);
    const RouteHop* h;
    lookup4_bulk(&a, &h, 1);
    return h;
}

const RouteHop* RouteTable::lookup6(const uint8_t* dst) const noexcept {
    uint8_t a[1][16];
    std::memcpy(a[0], dst, 16);
    const RouteHop* h;
    lookup6_bulk(a, &h, 1);
    return h;
}

void RouteTable::lookup4_bulk(const uint32_t* dst_host, const RouteHop** out, uint32_t n) const noexcept {
    uint32_t ips[kBurst];
    uint64_t nh[kBurst];
    std::memcpy(ips, dst_host, n * sizeof(uint32_t));  // rte_fib takes a non-const array
    rte_fib_lookup_bulk(v4_, ips, nh, static_cast<int>(n));
    for (uint32_t i = 0; i < n; ++i) out[i] = nh[i] == 0 ? nullptr : &hops_[nh[i] - 1];
}

void RouteTable::lookup6_bulk(const uint8_t (*dst)[16], const RouteHop** out, uint32_t n) const noexcept {
    uint8_t ips[kBurst][16];
    uint64_t nh[kBurst];
    std::memcpy(ips, dst, n * 16u);
    rte_fib6_lookup_bulk(v6_, ips, nh, static_cast<int>(n));
    for (uint32_t i = 0; i < n; ++i) out[i] = nh[i] == 0 ? nullptr : &hops_[nh[i] - 1];
}

}  // namespace espgw::tables

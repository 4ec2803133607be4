// Routes: rte_lpm / rte_lpm6 with an index into a next-hop vector.
#include "dataplane/dp/route.hpp"

#include <rte_lpm.h>
#include <rte_lpm6.h>

#include <fmt/format.h>

#include <stdexcept>

namespace espgw::dp {

Routes::~Routes() {
    if (v4_) rte_lpm_free(v4_);
    if (v6_) rte_lpm6_free(v6_);
}

void Routes::add(const Prefix& p, const NextHop& nh) {
    auto idx = static_cast<uint32_t>(hops_.size());
    hops_.push_back(nh);
    int rc;
    if (p.addr.family == 4) {
        uint32_t ip = net::load_be32(p.addr.bytes);
        if (p.len == 0) {
            // rte_lpm depth is 1..32: a default route is two /1 halves.
            rc = rte_lpm_add(v4_, 0, 1, idx);
            if (rc == 0) rc = rte_lpm_add(v4_, 0x80000000u, 1, idx);
        } else {
            rc = rte_lpm_add(v4_, ip, p.len, idx);
        }
    } else {
        if (p.len == 0) {
            uint8_t lo[16] = {}, hi[16] = {0x80};
            rc = rte_lpm6_add(v6_, lo, 1, idx);
            if (rc == 0) rc = rte_lpm6_add(v6_, hi, 1, idx);
        } else {
            rc = rte_lpm6_add(v6_, p.addr.bytes, p.len, idx);
        }
    }
    if (rc != 0) throw std::runtime_error(fmt::format("route {}: rte_lpm add failed ({})", p.to_string(), rc));
}

void Routes::build(const Config& cfg, int socket_id) {
    rte_lpm_config c4{};
    c4.max_rules = 1024;
    c4.number_tbl8s = 256;
    v4_ = rte_lpm_create("espgw_dp_routes4", socket_id, &c4);
    rte_lpm6_config c6{};
    c6.max_rules = 1024;
    c6.number_tbl8s = 1 << 12;
    v6_ = rte_lpm6_create("espgw_dp_routes6", socket_id, &c6);
    if (!v4_ || !v6_) throw std::runtime_error("cannot create the LPM route tables");
    hops_.reserve(cfg.routes.size() + 16 * cfg.ports.size());
    for (uint16_t i = 0; i < cfg.ports.size(); ++i) {
        for (const Prefix& a : cfg.ports[i].addresses) {
            // Connected prefix (RFC 1812 §5.2.4.2): the destination is the neighbour.
            Prefix net = a;
            NextHop nh{i, true, {}};
            if (net.len < (a.addr.family == 4 ? 32 : 128)) add(net, nh);
        }
    }
    for (const RouteConfig& r : cfg.routes) {
        NextHop nh{static_cast<uint16_t>(r.port), !r.via.has_value(), r.via.value_or(net::IpAddr{})};
        add(r.prefix, nh);
    }
}

const NextHop* Routes::lookup4(const uint8_t* dst) const noexcept {
    uint32_t idx;
    if (rte_lpm_lookup(v4_, net::load_be32(dst), &idx) != 0) return nullptr;
    return &hops_[idx];
}

const NextHop* Routes::lookup6(const uint8_t* dst) const noexcept {
    uint32_t idx;
    if (rte_lpm6_lookup(v6_, dst, &idx) != 0) return nullptr;
    return &hops_[idx];
}

}  // namespace espgw::dp

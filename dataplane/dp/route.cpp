// Start-up routes into the shared tables.
#include "dataplane/dp/route.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/tables/writer.hpp"

namespace espgw::dp {

namespace {

void add(tables::Tables& t, const Prefix& p, uint16_t port, const net::IpAddr* via) {
    tables::Route r;
    r.family = p.addr.family;
    r.len = p.len;
    r.port = port;
    std::memcpy(r.prefix, p.addr.bytes, 16);
    if (via) {
        r.via = 1;
        std::memcpy(r.gateway, via->bytes, 16);
    }
    tables::WriteResult w = tables::add_route(t, r);
    if (!w.ok() && w.status != tables::WriteStatus::route_exists)
        throw std::runtime_error(fmt::format("route {}: {}", p.to_string(), w.error));
}

}  // namespace

void install_routes(const Config& cfg, tables::Tables& t) {
    for (uint16_t i = 0; i < cfg.ports.size(); ++i)
        for (const Prefix& a : cfg.ports[i].addresses)
            // Connected prefix (RFC 1812 §5.2.4.2): the destination is the neighbour.
            if (a.len < (a.addr.family == 4 ? 32 : 128)) add(t, a, i, nullptr);
    for (const RouteConfig& r : cfg.routes)
        add(t, r.prefix, static_cast<uint16_t>(r.port), r.via ? &*r.via : nullptr);
}

}  // namespace espgw::dp

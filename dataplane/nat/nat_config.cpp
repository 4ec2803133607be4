// [nat] / [[masquerade]] configuration keys (listed in nat_config.hpp).
#include "dataplane/nat/nat_config.hpp"

#include <fmt/format.h>

#include <charconv>

#include "dataplane/dp/config.hpp"

namespace espgw::nat {

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
    throw dp::ConfigError(fmt::format("{}: {}", key, what));
}

void only_keys(const toml::table& t, const std::string& path, std::initializer_list<std::string_view> keys) {
    for (auto&& [k, v] : t) {
        (void)v;
        bool ok = false;
        for (auto w : keys) ok = ok || w == k.str();
        if (!ok) fail(fmt::format("{}.{}", path, k.str()), "unknown key");
    }
}

uint32_t integer(const toml::table& t, const std::string& path, std::string_view k, uint32_t lo, uint32_t hi,
                 uint32_t dflt) {
    const toml::node* n = t.get(k);
    if (!n) return dflt;
    auto v = n->value<int64_t>();
    if (!n->is_integer() || !v) fail(fmt::format("{}.{}", path, k), "expected an integer");
    if (*v < lo || *v > hi) fail(fmt::format("{}.{}", path, k), fmt::format("{} is out of range {}..{}", *v, lo, hi));
    return static_cast<uint32_t>(*v);
}

std::string str(const toml::table& t, const std::string& path, std::string_view k, bool required) {
    const toml::node* n = t.get(k);
    if (!n) {
        if (required) fail(fmt::format("{}.{}", path, k), "missing (required)");
        return {};
    }
    if (!n->is_string()) fail(fmt::format("{}.{}", path, k), "expected a string");
    return std::string(*n->value<std::string_view>());
}

}  // namespace

NatConfig parse_nat_config(const toml::table& root, const std::vector<dp::PortConfig>& ports, uint16_t nat_t_port) {
    NatConfig nc;
    nc.reserved_udp_port = nat_t_port;
    if (const toml::node* n = root.get("nat")) {
        const toml::table* t = n->as_table();
        if (!t) fail("nat", "expected a table");
        only_keys(*t, "nat", {"max_sessions", "ports", "expire_budget", "tcp_syn_timeout", "tcp_established_timeout",
                              "tcp_closing_timeout", "tcp_closed_timeout", "udp_timeout", "icmp_timeout",
                              "tcp_mss"});
        nc.tcp_mss = static_cast<uint16_t>(integer(*t, "nat", "tcp_mss", 0, 65535, nc.tcp_mss));
        nc.max_sessions = integer(*t, "nat", "max_sessions", 1, 1u << 26, nc.max_sessions);
        nc.expire_budget = integer(*t, "nat", "expire_budget", 1, 1u << 20, nc.expire_budget);
        Timeouts& to = nc.timeouts;
        to.tcp_syn_s = integer(*t, "nat", "tcp_syn_timeout", 1, 86400, to.tcp_syn_s);
        to.tcp_established_s = integer(*t, "nat", "tcp_established_timeout", 1, 864000, to.tcp_established_s);
        to.tcp_closing_s = integer(*t, "nat", "tcp_closing_timeout", 1, 86400, to.tcp_closing_s);
        to.tcp_closed_s = integer(*t, "nat", "tcp_closed_timeout", 1, 86400, to.tcp_closed_s);
        to.udp_s = integer(*t, "nat", "udp_timeout", 1, 86400, to.udp_s);
        to.icmp_s = integer(*t, "nat", "icmp_timeout", 1, 86400, to.icmp_s);
        const std::string pr = str(*t, "nat", "ports", false);
        if (!pr.empty()) {
            unsigned a = 0, b = 0;
            const auto dash = pr.find('-');
            bool ok = dash != std::string::npos;
            if (ok) {
                auto r1 = std::from_chars(pr.data(), pr.data() + dash, a);
                auto r2 = std::from_chars(pr.data() + dash + 1, pr.data() + pr.size(), b);
                ok = r1.ec == std::errc() && r1.ptr == pr.data() + dash && r2.ec == std::errc() &&
                     r2.ptr == pr.data() + pr.size();
            }
            if (!ok || a < 1 || b > 65535 || a > b) fail("nat.ports", fmt::format("\"{}\" is not a range low-high in 1..65535", pr));
            nc.port_lo = static_cast<uint16_t>(a);
            nc.port_hi = static_cast<uint16_t>(b);
        }
    }
    const toml::node* mn = root.get("masquerade");
    if (!mn) return nc;
    const toml::array* arr = mn->as_array();
    if (!arr) fail("masquerade", "expected [[masquerade]] tables");
    for (size_t i = 0; i < arr->size(); ++i) {
        const std::string path = fmt::format("masquerade[{}]", i);
        const toml::table* t = (*arr)[i].as_table();
        if (!t) fail(path, "expected a table");
        only_keys(*t, path, {"source", "port", "address"});
        MasqRule r;
        const std::string src = str(*t, path, "source", true);
        auto pf = dp::parse_prefix(src);
        if (!pf || pf->addr.family != 4) fail(path + ".source", fmt::format("\"{}\" is not an IPv4 prefix", src));
        r.src_len = pf->len;
        const uint32_t mask = r.src_len == 0 ? 0 : ~uint32_t{0} << (32 - r.src_len);
        r.src_net = net::load_be32(pf->addr.bytes) & mask;
        r.out_port_name = str(*t, path, "port", true);
        size_t pi = 0;
        while (pi < ports.size() && ports[pi].name != r.out_port_name) ++pi;
        if (pi == ports.size()) fail(path + ".port", fmt::format("no [[port]] named \"{}\"", r.out_port_name));
        r.out_port = static_cast<uint32_t>(pi);
        const std::string addr = str(*t, path, "address", false);
        if (!addr.empty()) {
            auto a = net::IpAddr::parse(addr);
            if (!a || a->family != 4) fail(path + ".address", fmt::format("\"{}\" is not an IPv4 address", addr));
            r.pub_addr = net::load_be32(a->bytes);
        } else {
            for (const dp::Prefix& p : ports[pi].addresses)
                if (p.addr.family == 4) {
                    r.pub_addr = net::load_be32(p.addr.bytes);
                    break;
                }
            if (r.pub_addr == 0) fail(path + ".address", fmt::format("port \"{}\" has no IPv4 address", r.out_port_name));
        }
        nc.rules.push_back(r);
    }
    if (nc.rules.size() > 65535) fail("masquerade", "too many rules");
    return nc;
}

}  // namespace espgw::nat

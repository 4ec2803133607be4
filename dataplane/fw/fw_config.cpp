// Firewall configuration keys.
//
// [firewall]
// default = "allow" | "drop" | "reject"       (policy after the last rule; default allow)
// default_to_tunnel = "allow" | ...           (the same for direction = "to_tunnel"; default allow)
// max_acl_bytes = 0                           (rte_acl trie bound)
// log_rate = 100                              (log = true lines/s per worker; more: suppressed, counted)
// [[firewall.rule]]
// source = "10.20.0.0/16"   destination = "0.0.0.0/0"          (default any)
// protocol = "tcp" | "udp" | "icmp" | "any" | 0..255          (default any)
// source_ports = "1024-65535" | 53   ports = "80" | "8000-8100" (tcp/udp, destination)
// icmp_type = 8                                              (icmp only)
// action = "allow" | "drop" | "reject"   log = false   enabled = true   comment = "..."
// source_group = "staff" | ["a", "b"]   connection = "rw" | [...]   (tunnel's tags)
// source_user = "alice@example.com" | [...]  (IKE identity, 26 characters at most: the
//                                  tag is the group "user:<identity>"; OR with source_group)
// destination_group, destination_user   (to_tunnel rules: the same, for the user of
//                                  the tunnel the packet goes into; source_group /
//                                  source_user are for from_tunnel rules)
// source_pool = "rw"                 (instead of source: a [[firewall.pool]] CIDR)
// direction = "from_tunnel" | "to_tunnel"   (decrypted traffic leaving tunnels, the
//                                  default, or cleartext about to be encrypted into one)
// [[firewall.pool]]
// name = "rw"   cidr = "10.20.0.0/24"   (espgw-ike's pool, declared here for source_pool)
#include "dataplane/fw/fw_config.hpp"

#include <fmt/format.h>

#include <charconv>
#include <initializer_list>
#include <utility>

#include "dataplane/dp/config.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::fw {

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

std::string str(const toml::table& t, const std::string& path, std::string_view k, std::string dflt) {
    const toml::node* n = t.get(k);
    if (!n) return dflt;
    if (!n->is_string()) fail(fmt::format("{}.{}", path, k), "expected a string");
    return std::string(*n->value<std::string_view>());
}

bool boolean(const toml::table& t, const std::string& path, std::string_view k, bool dflt) {
    const toml::node* n = t.get(k);
    if (!n) return dflt;
    if (!n->is_boolean()) fail(fmt::format("{}.{}", path, k), "expected true or false");
    return *n->value<bool>();
}

Action action(const std::string& s, const std::string& key) {
    if (s == "allow" || s == "accept") return Action::allow;
    if (s == "drop") return Action::drop;
    if (s == "reject") return Action::reject;
    fail(key, fmt::format("\"{}\" is not one of allow, drop, reject", s));
}

/// "a.b.c.d/n" or a bare address, IPv4 only (host-order net, length).
void prefix4(const std::string& s, const std::string& key, uint32_t* net, uint8_t* len) {
    const auto slash = s.find('/');
    auto a = net::IpAddr::parse(s.substr(0, slash));
    unsigned l = 32;
    if (slash != std::string::npos) {
        auto r = std::from_chars(s.data() + slash + 1, s.data() + s.size(), l);
        if (r.ec != std::errc() || r.ptr != s.data() + s.size() || l > 32) a.reset();
    }
    if (!a || a->family != 4) fail(key, fmt::format("\"{}\" is not an IPv4 address/prefix-length", s));
    const uint32_t mask = l == 0 ? 0 : ~uint32_t{0} << (32 - l);
    *net = net::load_be32(a->bytes) & mask;
    *len = static_cast<uint8_t>(l);
}

void port_range(const toml::node& n, const std::string& key, uint16_t* lo, uint16_t* hi) {
    if (auto v = n.value<int64_t>(); n.is_integer() && v) {
        if (*v < 0 || *v > 65535) fail(key, "port out of range 0..65535");
        *lo = *hi = static_cast<uint16_t>(*v);
        return;
    }
    if (!n.is_string()) fail(key, "expected a port or \"low-high\"");
    const std::string s(*n.value<std::string_view>());
    unsigned a = 0, b = 0;
    const auto dash = s.find('-');
    auto r1 = std::from_chars(s.data(), s.data() + (dash == std::string::npos ? s.size() : dash), a);
    bool ok = r1.ec == std::errc() && r1.ptr == s.data() + (dash == std::string::npos ? s.size() : dash);
    b = a;
    if (ok && dash != std::string::npos) {
        auto r2 = std::from_chars(s.data() + dash + 1, s.data() + s.size(), b);
        ok = r2.ec == std::errc() && r2.ptr == s.data() + s.size();
    }
    if (!ok || a > 65535 || b > 65535 || a > b) fail(key, fmt::format("\"{}\" is not a port range low-high", s));
    *lo = static_cast<uint16_t>(a);
    *hi = static_cast<uint16_t>(b);
}

uint8_t protocol(const toml::node& n, const std::string& key) {
    if (auto v = n.value<int64_t>(); n.is_integer() && v) {
        if (*v < 0 || *v > 255) fail(key, "out of range 0..255");
        return static_cast<uint8_t>(*v);
    }
    const std::string s = n.is_string() ? std::string(*n.value<std::string_view>()) : "";
    if (s == "any") return 0;
    if (s == "icmp") return net::kProtoIcmp;
    if (s == "tcp") return net::kProtoTcp;
    if (s == "udp") return net::kProtoUdp;
    fail(key, "expected tcp, udp, icmp, any or a protocol number");
}

/// A name or a list of names ("sales" / ["sales", "engineering"]): 1..31 characters
/// of letters, digits, '.', '_', '-', '@' each; none given: empty (= any).
std::vector<std::string> names(const toml::table& t, const std::string& path, const char* key,
                               size_t max_len = 31) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    auto take = [&](const toml::node& e, const std::string& where) {
        const auto v = e.value<std::string>();
        if (!e.is_string() || !v || v->empty() || v->size() > max_len ||
            v->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") !=
                std::string::npos)
            fail(where, max_len == 31 ? std::string("expected a name of 1..31 letters, digits, '.', '_', '-', '@'")
                                      : fmt::format("expected an identity of 1..{} letters, digits, '.', '_', '-', "
                                                    "'@' (tagged as group 'user:<identity>', 31 characters at most)",
                                                    max_len));
        out.push_back(*v);
    };
    if (const toml::array* a = n->as_array()) {
        if (a->empty()) fail(path + "." + key, "expected at least one name");
        for (size_t i = 0; i < a->size(); ++i) take((*a)[i], fmt::format("{}.{}[{}]", path, key, i));
    } else {
        take(*n, path + "." + key);
    }
    return out;
}

}  // namespace

FirewallConfig parse_firewall_config(const toml::table& root) {
    FirewallConfig fc;
    const toml::node* n = root.get("firewall");
    if (!n) return fc;
    const toml::table* t = n->as_table();
    if (!t) fail("firewall", "expected a table");
    only_keys(*t, "firewall",
              {"default", "default_to_tunnel", "max_acl_bytes", "log_rate", "rule", "pool", "automatic"});
    fc.enabled = true;
    fc.set.default_action = action(str(*t, "firewall", "default", "allow"), "firewall.default");
    fc.set.default_to_tunnel =
        action(str(*t, "firewall", "default_to_tunnel", "allow"), "firewall.default_to_tunnel");
    if (const toml::node* m = t->get("max_acl_bytes")) {
        auto v = m->value<int64_t>();
        if (!m->is_integer() || !v || *v < 0) fail("firewall.max_acl_bytes", "expected a byte count");
        fc.max_acl_bytes = static_cast<size_t>(*v);
    }
    // Pools: name → CIDR, for source_pool.
    std::vector<std::pair<std::string, std::pair<uint32_t, uint8_t>>> pools;
    if (const toml::node* pn = t->get("pool")) {
        const toml::array* pa = pn->as_array();
        if (!pa) fail("firewall.pool", "expected [[firewall.pool]] tables");
        for (size_t i = 0; i < pa->size(); ++i) {
            const std::string path = fmt::format("firewall.pool[{}]", i);
            const toml::table* pt = (*pa)[i].as_table();
            if (!pt) fail(path, "expected a table");
            only_keys(*pt, path, {"name", "cidr"});
            const std::vector<std::string> nm = names(*pt, path, "name");
            if (nm.size() != 1) fail(path + ".name", "expected one pool name");
            if (!pt->get("cidr")) fail(path + ".cidr", "missing (the pool's network, as in espgw-ike's [pools])");
            uint32_t net = 0;
            uint8_t len = 0;
            prefix4(str(*pt, path, "cidr", ""), path + ".cidr", &net, &len);
            for (const auto& p : pools)
                if (p.first == nm[0]) fail(path + ".name", fmt::format("pool '{}' declared twice", nm[0]));
            pools.push_back({nm[0], {net, len}});
        }
    }
    if (const toml::node* m = t->get("log_rate")) {
        auto v = m->value<int64_t>();
        if (!m->is_integer() || !v || *v < 1 || *v > 100000) fail("firewall.log_rate", "expected 1..100000 lines per second");
        fc.log_rate = static_cast<uint32_t>(*v);
    }
    const toml::node* rn = t->get("rule");
    const toml::array* arr = rn ? rn->as_array() : nullptr;
    if (rn && !arr) fail("firewall.rule", "expected [[firewall.rule]] tables");
    for (size_t i = 0; arr && i < arr->size(); ++i) {
        const std::string path = fmt::format("firewall.rule[{}]", i);
        const toml::table* rt = (*arr)[i].as_table();
        if (!rt) fail(path, "expected a table");
        only_keys(*rt, path, {"source", "destination", "protocol", "source_ports", "ports", "icmp_type", "action",
                              "log", "enabled", "comment", "source_group", "connection", "source_user",
                              "source_pool", "direction", "destination_group", "destination_user"});
        Rule r;
        prefix4(str(*rt, path, "source", "0.0.0.0/0"), path + ".source", &r.src_net, &r.src_len);
        prefix4(str(*rt, path, "destination", "0.0.0.0/0"), path + ".destination", &r.dst_net, &r.dst_len);
        if (const toml::node* p = rt->get("protocol")) r.proto = protocol(*p, path + ".protocol");
        if (const toml::node* p = rt->get("source_ports")) port_range(*p, path + ".source_ports", &r.src_port_lo, &r.src_port_hi);
        if (const toml::node* p = rt->get("ports")) port_range(*p, path + ".ports", &r.dst_port_lo, &r.dst_port_hi);
        if (const toml::node* p = rt->get("icmp_type")) {
            auto v = p->value<int64_t>();
            if (!p->is_integer() || !v || *v < 0 || *v > 255) fail(path + ".icmp_type", "expected 0..255");
            r.icmp_type = static_cast<int16_t>(*v);
        }
        r.action = action(str(*rt, path, "action", "allow"), path + ".action");
        r.log = boolean(*rt, path, "log", false);
        const std::string dir = str(*rt, path, "direction", "from_tunnel");
        if (dir == "to_tunnel")
            r.direction = Direction::to_tunnel;
        else if (dir != "from_tunnel")
            fail(path + ".direction", fmt::format("\"{}\" is not one of from_tunnel, to_tunnel", dir));
        r.enabled = boolean(*rt, path, "enabled", true);
        r.comment = str(*rt, path, "comment", "");
        // Whose tunnel: the sender's (from_tunnel) or the receiver's (to_tunnel).
        const bool to = r.direction == Direction::to_tunnel;
        for (const char* k : {"source_group", "source_user", "destination_group", "destination_user"})
            if (rt->get(k) && (k[0] == 'd') != to)
                fail(path + "." + k, to ? fmt::format("to_tunnel rules name the receiving tunnel's user: use {}",
                                                      k[7] == 'g' ? "destination_group" : "destination_user")
                                        : fmt::format("{} needs direction = \"to_tunnel\" (from_tunnel rules: {})", k,
                                                      k[12] == 'g' ? "source_group" : "source_user"));
        r.groups = names(*rt, path, to ? "destination_group" : "source_group");
        r.connections = names(*rt, path, "connection");
        r.users = names(*rt, path, to ? "destination_user" : "source_user", kMaxUserIdentity);
        if (rt->get("source_pool")) {
            if (rt->get("source")) fail(path + ".source_pool", "give source or source_pool, not both");
            const std::vector<std::string> pn = names(*rt, path, "source_pool");
            if (pn.size() != 1) fail(path + ".source_pool", "expected one pool name");
            bool found = false;
            for (const auto& p : pools)
                if (p.first == pn[0]) {
                    r.src_net = p.second.first;
                    r.src_len = p.second.second;
                    found = true;
                }
            if (!found)
                fail(path + ".source_pool",
                     fmt::format("pool '{}' is not declared: add [[firewall.pool]] name = \"{}\" cidr = \"<the pool's "
                                 "network>\" (espgw-dp does not read espgw-ike's pools)",
                                 pn[0], pn[0]));
            r.pool = pn[0];
        }
        fc.set.rules.push_back(r);
    }
    // Automatic rules (as gateways' "automatic firewall rules" checkbox): for each named
    // IKE connection, allow what its tunnels carry — after the explicit rules, before
    // the default. A tunnel's traffic already had to match its negotiated traffic
    // selectors (the inbound policy check), and the rule matches the connection's tag,
    // which only live SAs of that connection carry: so the rule allows exactly the
    // tunnel's selectors, and only while the tunnel is up. Where traffic into tunnels is
    // filtered (default_to_tunnel not allow), the same into them: the outbound SA
    // carries the tag too, and the SPD sent the packet there by the same selectors.
    for (const std::string& conn : names(*t, "firewall", "automatic")) {
        Rule r;
        r.connections = {conn};
        r.action = Action::allow;
        r.comment = "automatic: traffic selectors of connection " + conn;
        fc.set.rules.push_back(r);
        if (fc.set.default_to_tunnel != Action::allow) {
            r.direction = Direction::to_tunnel;
            r.comment = "automatic: traffic into tunnels of connection " + conn;
            fc.set.rules.push_back(r);
        }
    }
    if (auto bad = validate(fc.set)) fail("firewall." + bad->substr(0, bad->find(':')), bad->substr(bad->find(':') + 2));
    return fc;
}

FirewallConfig parse_firewall_text(std::string_view toml_text) {
    toml::table root;
    try {
        root = toml::parse(toml_text);
    } catch (const toml::parse_error& e) {
        throw dp::ConfigError(fmt::format("line {}:{}: {}", e.source().begin.line, e.source().begin.column,
                                          e.description()));
    }
    return parse_firewall_config(root);
}

}  // namespace espgw::fw

// TOML → validated Config (control path: exceptions and allocation are fine here).
#include "dataplane/dp/config.hpp"
#include "dataplane/fw/fw_config.hpp"
#include "dataplane/nat/nat_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace espgw::dp {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw ConfigError(fmt::format("{}: {}", path, what));
}

std::string type_name(const toml::node& n) {
    switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
    }
}

/// One TOML table plus its key path for messages; refuses unknown keys.
class Section {
public:
    Section(const toml::table& t, std::string path, std::initializer_list<std::string_view> keys)
        : t_(t), path_(std::move(path)) {
        for (auto&& [k, v] : t) {
            (void)v;
            if (std::find(keys.begin(), keys.end(), k.str()) == keys.end())
                fail(key(k.str()), "unknown key");
        }
    }

    std::string key(std::string_view k) const {
        return path_.empty() ? std::string(k) : fmt::format("{}.{}", path_, k);
    }
    bool has(std::string_view k) const { return t_.contains(k); }
    const toml::node* node(std::string_view k) const { return t_.get(k); }

    int64_t integer(std::string_view k, int64_t lo, int64_t hi, std::optional<int64_t> dflt) const {
        const toml::node* n = t_.get(k);
        if (!n) {
            if (!dflt) fail(key(k), "missing (required)");
            return *dflt;
        }
        auto v = n->value<int64_t>();
        if (!n->is_integer() || !v) fail(key(k), fmt::format("expected an integer, got {}", type_name(*n)));
        if (*v < lo || *v > hi) fail(key(k), fmt::format("{} is out of range {}..{}", *v, lo, hi));
        return *v;
    }
    std::string string(std::string_view k, std::optional<std::string> dflt) const {
        const toml::node* n = t_.get(k);
        if (!n) {
            if (!dflt) fail(key(k), "missing (required)");
            return *dflt;
        }
        if (!n->is_string()) fail(key(k), fmt::format("expected a string, got {}", type_name(*n)));
        return std::string(*n->value<std::string_view>());
    }
    bool boolean(std::string_view k, bool dflt) const {
        const toml::node* n = t_.get(k);
        if (!n) return dflt;
        if (!n->is_boolean()) fail(key(k), fmt::format("expected true or false, got {}", type_name(*n)));
        return *n->value<bool>();
    }
    template <typename E>
    E choice(std::string_view k, std::initializer_list<std::pair<std::string_view, E>> opts,
             std::optional<E> dflt) const {
        if (!has(k) && dflt) return *dflt;
        std::string s = string(k, std::nullopt);
        std::string allowed;
        for (auto& [name, val] : opts) {
            if (s == name) return val;
            allowed += allowed.empty() ? std::string(name) : fmt::format(", {}", name);
        }
        fail(key(k), fmt::format("\"{}\" is not one of {}", s, allowed));
    }
    net::IpAddr address(std::string_view k) const {
        std::string s = string(k, std::nullopt);
        auto a = net::IpAddr::parse(s);
        if (!a) fail(key(k), fmt::format("\"{}\" is not an IPv4 or IPv6 address", s));
        return *a;
    }
    Prefix prefix(std::string_view k, std::optional<Prefix> dflt) const {
        if (!has(k)) {
            if (!dflt) fail(key(k), "missing (required)");
            return *dflt;
        }
        std::string s = string(k, std::nullopt);
        auto p = parse_prefix(s);
        if (!p) fail(key(k), fmt::format("\"{}\" is not an address/prefix-length", s));
        return *p;
    }

private:
    const toml::table& t_;
    std::string path_;
};

/// The array of tables `name` ([[name]]), or empty.
std::vector<const toml::table*> tables(const toml::table& root, std::string_view name) {
    std::vector<const toml::table*> out;
    const toml::node* n = root.get(name);
    if (!n) return out;
    const toml::array* arr = n->as_array();
    if (!arr) fail(std::string(name), fmt::format("expected [[{}]] tables, got {}", name, type_name(*n)));
    for (size_t i = 0; i < arr->size(); ++i) {
        const toml::table* t = (*arr)[i].as_table();
        if (!t) fail(fmt::format("{}[{}]", name, i), "expected a table");
        out.push_back(t);
    }
    return out;
}

std::vector<uint8_t> parse_hex(std::string_view s, const std::string& path) {
    if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
    std::string clean;
    for (char c : s)
        if (c != ':' && c != ' ' && c != '_') clean.push_back(c);
    if (clean.size() % 2) fail(path, "hex string has an odd number of digits");
    std::vector<uint8_t> out;
    for (size_t i = 0; i < clean.size(); i += 2) {
        auto nib = [&](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            fail(path, "not a hex string (digits 0-9a-f, optional 0x prefix)");
        };
        out.push_back(static_cast<uint8_t>(nib(clean[i]) << 4 | nib(clean[i + 1])));
    }
    return out;
}

bool looks_like_pci(std::string_view d) {
    // DDDD:BB:DD.F or BB:DD.F
    auto colon = d.find(':');
    auto dot = d.rfind('.');
    if (colon == std::string_view::npos || dot == std::string_view::npos) return false;
    for (char c : d)
        if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    return true;
}

uint32_t find_port(const Config& cfg, const std::string& name, const std::string& path) {
    for (uint32_t i = 0; i < cfg.ports.size(); ++i)
        if (cfg.ports[i].name == name) return i;
    fail(path, fmt::format("no [[port]] is named \"{}\"", name));
}

struct SuiteRow {
    std::string_view name;
    crypto::Suite suite;
};
constexpr SuiteRow kSuites[] = {
    {"aes128gcm16", {crypto::Cipher::aes_gcm_128, crypto::Integ::none}},
    {"aes256gcm16", {crypto::Cipher::aes_gcm_256, crypto::Integ::none}},
    {"chacha20poly1305", {crypto::Cipher::chacha20_poly1305, crypto::Integ::none}},
    {"aes128gmac", {crypto::Cipher::aes_gmac_128, crypto::Integ::none}},
    {"aes256gmac", {crypto::Cipher::aes_gmac_256, crypto::Integ::none}},
    {"aes128-sha1", {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha1_96}},
    {"aes128-sha256", {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha256_128}},
    {"aes128-sha512", {crypto::Cipher::aes_cbc_128, crypto::Integ::hmac_sha512_256}},
    {"aes256-sha1", {crypto::Cipher::aes_cbc_256, crypto::Integ::hmac_sha1_96}},
    {"aes256-sha256", {crypto::Cipher::aes_cbc_256, crypto::Integ::hmac_sha256_128}},
    {"aes256-sha512", {crypto::Cipher::aes_cbc_256, crypto::Integ::hmac_sha512_256}},
    {"null-sha1", {crypto::Cipher::null, crypto::Integ::hmac_sha1_96}},
    {"null-sha256", {crypto::Cipher::null, crypto::Integ::hmac_sha256_128}},
};

std::string suite_list() {
    std::string s;
    for (auto& r : kSuites) s += s.empty() ? std::string(r.name) : fmt::format(", {}", r.name);
    return s;
}

void parse_dataplane(const toml::table& root, Config& cfg) {
    const toml::node* n = root.get("dataplane");
    if (!n) return;
    const toml::table* t = n->as_table();
    if (!t) fail("dataplane", "expected a [dataplane] table");
    Section s(*t, "dataplane",
              {"workers", "lcores", "burst", "idle_backoff", "idle", "idle_polls", "idle_max_sleep_us",
               "mbufs", "memory_mb", "hugepages", "nat_t_port", "punt_ring_size", "max_sas",
               "max_policies", "max_routes", "spd_cache_entries", "control_group"});
    DataplaneConfig& d = cfg.dataplane;
    d.workers = static_cast<uint32_t>(s.integer("workers", 1, 64, 1));
    if (const toml::node* l = s.node("lcores")) {
        const toml::array* a = l->as_array();
        if (!a) fail("dataplane.lcores", "expected an array of lcore ids");
        for (size_t i = 0; i < a->size(); ++i) {
            auto v = (*a)[i].value<int64_t>();
            if (!(*a)[i].is_integer() || !v || *v < 1 || *v > 1023)
                fail(fmt::format("dataplane.lcores[{}]", i), "expected an lcore id 1..1023 (0 is the main lcore)");
            d.lcores.push_back(static_cast<uint32_t>(*v));
        }
        if (d.lcores.empty()) fail("dataplane.lcores", "must list at least one lcore");
        if (s.has("workers") && d.workers != d.lcores.size())
            fail("dataplane.workers", fmt::format("{} disagrees with the {} lcores listed", d.workers, d.lcores.size()));
        d.workers = static_cast<uint32_t>(d.lcores.size());
    }
    d.burst = static_cast<uint32_t>(s.integer("burst", 1, 256, 32));
    d.idle_backoff = s.boolean("idle_backoff", true);
    d.idle = d.idle_backoff ? IdleMode::sleep : IdleMode::off;
    if (s.has("idle")) {
        std::string m = s.string("idle", "sleep");
        if (m == "off") d.idle = IdleMode::off;
        else if (m == "sleep") d.idle = IdleMode::sleep;
        else if (m == "interrupt") d.idle = IdleMode::interrupt;
        else fail("dataplane.idle", fmt::format("\"{}\" is not one of off, sleep, interrupt", m));
        d.idle_backoff = d.idle != IdleMode::off;
    }
    d.idle_polls = static_cast<uint32_t>(s.integer("idle_polls", 1, 1000000, 256));
    d.idle_max_sleep_us = static_cast<uint32_t>(s.integer("idle_max_sleep_us", 1, 100000, 1000));
    d.mbufs = static_cast<uint32_t>(s.integer("mbufs", 1023, 1048575, 8191));
    d.memory_mb = static_cast<uint32_t>(s.integer("memory_mb", 64, 65536, 256));
    d.hugepages = s.string("hugepages", "auto");
    if (d.hugepages != "auto" && d.hugepages != "on" && d.hugepages != "off")
        fail("dataplane.hugepages", fmt::format("\"{}\" is not one of auto, on, off", d.hugepages));
    d.nat_t_port = static_cast<uint16_t>(s.integer("nat_t_port", 1, 65535, net::kPortNatT));
    d.punt_ring_size = static_cast<uint32_t>(s.integer("punt_ring_size", 64, 65536, 1024));
    d.max_sas = static_cast<uint32_t>(s.integer("max_sas", 16, 1 << 20, 4096));
    d.max_policies = static_cast<uint32_t>(s.integer("max_policies", 16, 1 << 20, 1024));
    d.max_routes = static_cast<uint32_t>(s.integer("max_routes", 16, 1 << 20, 1024));
    d.spd_cache_entries = static_cast<uint32_t>(s.integer("spd_cache_entries", 1024, 1 << 24, 1 << 18));
    if ((d.spd_cache_entries & (d.spd_cache_entries - 1)) != 0)
        fail("dataplane.spd_cache_entries", fmt::format("{} is not a power of two", d.spd_cache_entries));
    d.control_group = s.string("control_group", "root");
    if (d.control_group.empty() || d.control_group.size() > 64 ||
        d.control_group.find_first_of(" \t\n:/") != std::string::npos)
        fail("dataplane.control_group", "expected a group name");
    if (d.punt_ring_size & (d.punt_ring_size - 1))
        fail("dataplane.punt_ring_size", fmt::format("{} is not a power of 2", d.punt_ring_size));
}

void parse_ports(const toml::table& root, Config& cfg) {
    auto ts = tables(root, "port");
    if (ts.empty()) fail("port", "at least one [[port]] is required");
    std::set<std::string> names;
    for (size_t i = 0; i < ts.size(); ++i) {
        std::string path = fmt::format("port[{}]", i);
        Section s(*ts[i], path, {"name", "role", "device", "addresses", "mtu", "queues", "mac"});
        PortConfig p;
        p.name = s.string("name", std::nullopt);
        if (p.name.empty() || p.name.size() > 31) fail(s.key("name"), "must be 1..31 characters");
        if (!names.insert(p.name).second) fail(s.key("name"), fmt::format("\"{}\" is used by another port", p.name));
        p.role = s.choice<PortRole>("role", {{"outside", PortRole::outside}, {"inside", PortRole::inside}}, std::nullopt);
        p.device = s.string("device", std::nullopt);
        if (p.device.empty()) fail(s.key("device"), "must not be empty");
        p.is_pci = looks_like_pci(p.device);
        if (!p.is_pci && !p.device.starts_with("net_"))
            fail(s.key("device"), fmt::format("\"{}\" is neither a PCI address nor a net_* vdev", p.device));
        if (const toml::node* a = s.node("addresses")) {
            const toml::array* arr = a->as_array();
            if (!arr) fail(s.key("addresses"), "expected an array of \"address/len\" strings");
            for (size_t j = 0; j < arr->size(); ++j) {
                std::string k = fmt::format("{}.addresses[{}]", path, j);
                auto v = (*arr)[j].value<std::string_view>();
                if (!v) fail(k, "expected a string");
                auto pf = parse_prefix(*v);
                if (!pf) fail(k, fmt::format("\"{}\" is not an address/prefix-length", *v));
                p.addresses.push_back(*pf);
            }
        }
        p.mtu = static_cast<uint32_t>(s.integer("mtu", 576, 9216, 1500));
        p.queues = static_cast<uint16_t>(s.integer("queues", 1, 16, 1));
        if (s.has("mac")) {
            std::string m = s.string("mac", std::nullopt);
            p.mac = parse_mac(m);
            if (!p.mac) fail(s.key("mac"), fmt::format("\"{}\" is not a MAC address", m));
        }
        cfg.ports.push_back(std::move(p));
    }
    bool outside = false;
    for (auto& p : cfg.ports) outside |= p.role == PortRole::outside;
    if (!outside) fail("port", "no port has role = \"outside\"");
}

RouteConfig parse_route(const toml::table& t, const std::string& path, const Config& cfg) {
    Section s(t, path, {"prefix", "via", "port"});
    RouteConfig r;
    r.prefix = s.prefix("prefix", std::nullopt);
    if (s.has("via")) {
        r.via = s.address("via");
        if (r.via->family != r.prefix.addr.family) fail(s.key("via"), "address family differs from the prefix's");
    }
    r.port = find_port(cfg, s.string("port", std::nullopt), s.key("port"));
    return r;
}

void parse_routes(const toml::table& root, Config& cfg) {
    auto ts = tables(root, "route");
    for (size_t i = 0; i < ts.size(); ++i) cfg.routes.push_back(parse_route(*ts[i], fmt::format("route[{}]", i), cfg));
}

void parse_neighbors(const toml::table& root, Config& cfg) {
    auto ts = tables(root, "neighbor");
    for (size_t i = 0; i < ts.size(); ++i) {
        std::string path = fmt::format("neighbor[{}]", i);
        Section s(*ts[i], path, {"address", "mac", "port"});
        NeighborConfig n;
        n.addr = s.address("address");
        std::string m = s.string("mac", std::nullopt);
        auto mac = parse_mac(m);
        if (!mac) fail(s.key("mac"), fmt::format("\"{}\" is not a MAC address", m));
        n.mac = *mac;
        n.port = find_port(cfg, s.string("port", std::nullopt), s.key("port"));
        cfg.neighbors.push_back(n);
    }
}

SaEntry parse_sa(const toml::table& t, const std::string& path, const DataplaneConfig& dpc) {
    Section s(t, path,
              {"id", "spi", "direction", "suite", "keymat", "mode", "esn", "udp_encap",
               "udp_src_port", "udp_dst_port", "tunnel_src", "tunnel_dst", "replay_window",
               "soft_bytes", "hard_bytes", "soft_packets", "hard_packets", "ttl", "initial_seq", "groups",
               "connection"});
    SaEntry e;
    e.id = static_cast<uint32_t>(s.integer("id", 1, (1 << 17) - 1, std::nullopt));
    e.sa.spi = static_cast<uint32_t>(s.integer("spi", 256, 0xffffffff, std::nullopt));  // RFC 4303 §2.1: 1..255 reserved
    e.direction = s.choice<SaDirection>("direction", {{"in", SaDirection::in}, {"out", SaDirection::out}}, std::nullopt);
    e.suite_name = s.string("suite", std::nullopt);
    auto suite = parse_suite(e.suite_name);
    if (!suite) fail(s.key("suite"), fmt::format("\"{}\" is not one of {}", e.suite_name, suite_list()));
    e.sa.suite = *suite;
    auto keymat = parse_hex(s.string("keymat", std::nullopt), s.key("keymat"));
    KeyBytes kb = suite_key_bytes(*suite);
    if (keymat.size() != kb.enc + kb.auth)
        fail(s.key("keymat"), fmt::format("{} bytes, suite {} needs {} ({} cipher{} + {} integrity)",
                                          keymat.size(), e.suite_name, kb.enc + kb.auth, kb.enc,
                                          kb.auth == 0 && kb.enc % 8 == 4 ? " incl. 4-byte salt" : "", kb.auth));
    e.enc_keymat.assign(keymat.begin(), keymat.begin() + kb.enc);
    e.auth_key.assign(keymat.begin() + kb.enc, keymat.end());
    std::fill(keymat.begin(), keymat.end(), 0);
    e.sa.mode = s.choice<esp::Mode>("mode", {{"tunnel", esp::Mode::tunnel}, {"transport", esp::Mode::transport}},
                                    esp::Mode::tunnel);
    e.sa.esn = s.boolean("esn", false);
    e.sa.udp_encap = s.boolean("udp_encap", false);
    e.sa.udp_src_port = static_cast<uint16_t>(s.integer("udp_src_port", 1, 65535, dpc.nat_t_port));
    e.sa.udp_dst_port = static_cast<uint16_t>(s.integer("udp_dst_port", 1, 65535, net::kPortNatT));
    if (e.sa.mode == esp::Mode::tunnel) {
        e.sa.tunnel_src = s.address("tunnel_src");
        e.sa.tunnel_dst = s.address("tunnel_dst");
        if (e.sa.tunnel_src.family != e.sa.tunnel_dst.family)
            fail(s.key("tunnel_dst"), "address family differs from tunnel_src's");
    }
    int64_t w = s.integer("replay_window", 0, esp::kReplayWindowMax, esp::kReplayWindowDefault);
    if (w != 0 && w < esp::kReplayWindowMin)
        fail(s.key("replay_window"), fmt::format("{} must be 0 (off) or {}..{}", w, esp::kReplayWindowMin,
                                                  esp::kReplayWindowMax));
    if (w == 0 && e.sa.esn && e.direction == SaDirection::in)
        fail(s.key("replay_window"), "ESN needs the anti-replay window (RFC 4303 §2.2.1)");
    e.sa.replay_window = static_cast<uint32_t>(w);
    e.sa.ttl = static_cast<uint8_t>(s.integer("ttl", 1, 255, 64));
    e.sa.initial_seq = static_cast<uint64_t>(s.integer("initial_seq", 0, INT64_MAX, 0));
    constexpr int64_t kMax = INT64_MAX;
    e.soft_bytes = static_cast<uint64_t>(s.integer("soft_bytes", 0, kMax, 0));
    e.hard_bytes = static_cast<uint64_t>(s.integer("hard_bytes", 0, kMax, 0));
    e.soft_packets = static_cast<uint64_t>(s.integer("soft_packets", 0, kMax, 0));
    e.hard_packets = static_cast<uint64_t>(s.integer("hard_packets", 0, kMax, 0));
    if (e.hard_bytes && e.soft_bytes > e.hard_bytes)
        fail(s.key("soft_bytes"), fmt::format("{} exceeds hard_bytes {}", e.soft_bytes, e.hard_bytes));
    if (e.hard_packets && e.soft_packets > e.hard_packets)
        fail(s.key("soft_packets"), fmt::format("{} exceeds hard_packets {}", e.soft_packets, e.hard_packets));
    // Firewall tags of a static SA: the user groups / connection its traffic counts as
    // (what espgw-ike sets on both SAs of an IKE-made tunnel): the inbound SA's for
    // from_tunnel rules, the outbound SA's for to_tunnel rules.
    auto tag_name = [&](const toml::node& n, const std::string& where) {
        const auto v = n.value<std::string>();
        if (!n.is_string() || !v || v->empty() || v->size() > 31)
            fail(where, "expected a name of 1..31 characters");
        return *v;
    };
    if (const toml::node* g = s.node("groups")) {
        const toml::array* a = g->as_array();
        if (!a) fail(s.key("groups"), "expected a list of group names");
        for (size_t i = 0; i < a->size(); ++i) e.groups.push_back(tag_name((*a)[i], fmt::format("{}[{}]", s.key("groups"), i)));
    }
    if (const toml::node* c = s.node("connection")) e.connection = tag_name(*c, s.key("connection"));
    return e;
}

void parse_sas(const toml::table& root, Config& cfg) {
    auto ts = tables(root, "sa");
    std::set<uint32_t> ids;
    std::set<uint32_t> spis;
    uint32_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        std::string path = fmt::format("sa[{}]", i);
        SaEntry e = parse_sa(*ts[i], path, cfg.dataplane);
        if (!ids.insert(e.id).second) fail(path + ".id", fmt::format("{} is used by another [[sa]]", e.id));
        if (e.direction == SaDirection::in && !spis.insert(e.sa.spi).second)
            fail(path + ".spi", fmt::format("{} is used by another inbound SA", e.sa.spi));
        ++(e.direction == SaDirection::in ? n_in : n_out);
        cfg.sas.push_back(std::move(e));
    }
    if (std::max(n_in, n_out) > cfg.dataplane.max_sas)
        fail("dataplane.max_sas", fmt::format("{} is smaller than the {} static SAs of one direction",
                                              cfg.dataplane.max_sas, std::max(n_in, n_out)));
}

std::pair<uint16_t, uint16_t> port_range(const Section& s, std::string_view k) {
    if (!s.has(k)) return {0, 65535};
    const toml::node* n = s.node(k);
    if (n->is_integer()) {
        auto v = static_cast<uint16_t>(s.integer(k, 0, 65535, std::nullopt));
        return {v, v};
    }
    std::string t = s.string(k, std::nullopt);
    auto dash = t.find('-');
    try {
        if (dash == std::string::npos) {
            int v = std::stoi(t);
            if (v >= 0 && v <= 65535) return {static_cast<uint16_t>(v), static_cast<uint16_t>(v)};
        } else {
            int lo = std::stoi(t.substr(0, dash)), hi = std::stoi(t.substr(dash + 1));
            if (lo >= 0 && hi <= 65535 && lo <= hi) return {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
        }
    } catch (const std::exception&) {
    }
    fail(s.key(k), fmt::format("\"{}\" is not a port or lo-hi range within 0..65535", t));
}

PolicyConfig parse_policy(const toml::table& t, const std::string& path, const std::vector<SaEntry>* sas) {
    Section s(t, path, {"priority", "src", "dst", "proto", "src_port", "dst_port", "action", "sa"});
    PolicyConfig p;
    p.priority = static_cast<uint32_t>(s.integer("priority", 0, 65535, 100));
    std::optional<Prefix> src, dst;
    if (s.has("src")) src = s.prefix("src", std::nullopt);
    if (s.has("dst")) dst = s.prefix("dst", std::nullopt);
    uint8_t fam = src ? src->addr.family : dst ? dst->addr.family : 4;
    Prefix any;
    any.addr.family = fam;
    p.src = src.value_or(any);
    p.dst = dst.value_or(any);
    if (p.src.addr.family != p.dst.addr.family) fail(s.key("dst"), "address family differs from src's");
    if (s.has("proto")) {
        const toml::node* n = s.node("proto");
        if (n->is_integer()) {
            p.proto = static_cast<uint8_t>(s.integer("proto", 0, 255, std::nullopt));
        } else {
            p.proto = s.choice<uint8_t>("proto", {{"any", 0}, {"icmp", 1}, {"tcp", 6}, {"udp", 17}, {"icmpv6", 58}},
                                        std::nullopt);
        }
    }
    std::tie(p.src_port_lo, p.src_port_hi) = port_range(s, "src_port");
    std::tie(p.dst_port_lo, p.dst_port_hi) = port_range(s, "dst_port");
    bool ports = s.has("src_port") || s.has("dst_port");
    if (ports && p.proto != 6 && p.proto != 17) fail(s.key("proto"), "ports need proto = \"tcp\" or \"udp\"");
    p.action = s.choice<PolicyAction>(
        "action", {{"protect", PolicyAction::protect}, {"bypass", PolicyAction::bypass}, {"discard", PolicyAction::discard}},
        std::nullopt);
    if (p.action == PolicyAction::protect) {
        p.sa_id = static_cast<uint32_t>(s.integer("sa", 1, (1 << 17) - 1, std::nullopt));
        if (sas) {
            bool found = false;
            // Configs that number SAs 1..n find theirs at id - 1 (100k-SA configs: no n² scan).
            const uint32_t guess = p.sa_id - 1;
            const bool direct = guess < sas->size() && (*sas)[guess].id == p.sa_id;
            for (uint32_t j = direct ? guess : 0; j < (direct ? guess + 1 : sas->size()); ++j) {
                if ((*sas)[j].id != p.sa_id) continue;
                if ((*sas)[j].direction != SaDirection::out)
                    fail(s.key("sa"), fmt::format("sa {} is inbound; protect needs an outbound SA", p.sa_id));
                p.sa_index = j;
                found = true;
            }
            if (!found) fail(s.key("sa"), fmt::format("no [[sa]] has id {}", p.sa_id));
        }
    } else if (s.has("sa")) {
        fail(s.key("sa"), "only action = \"protect\" takes an SA");
    }
    return p;
}

void parse_policies(const toml::table& root, Config& cfg) {
    auto ts = tables(root, "policy");
    for (size_t i = 0; i < ts.size(); ++i) cfg.policies.push_back(parse_policy(*ts[i], fmt::format("policy[{}]", i), &cfg.sas));
    std::stable_sort(cfg.policies.begin(), cfg.policies.end(),
                     [](const PolicyConfig& a, const PolicyConfig& b) { return a.priority < b.priority; });
    if (cfg.policies.size() > cfg.dataplane.max_policies)
        fail("dataplane.max_policies", fmt::format("{} is smaller than the {} static policies",
                                                   cfg.dataplane.max_policies, cfg.policies.size()));
}

/// Parses `text` as the body of one table (key = value lines).
toml::table parse_entry_text(std::string_view text) {
    try {
        return toml::parse(text);
    } catch (const toml::parse_error& e) {
        // The description may quote the text; never echo it (it can hold key material).
        throw ConfigError(fmt::format("line {}:{}: not a valid key = value list", e.source().begin.line,
                                      e.source().begin.column));
    }
}

}  // namespace

bool Prefix::contains(const net::IpAddr& a) const noexcept {
    if (a.family != addr.family) return false;
    uint32_t full = len / 8, rem = len % 8;
    if (std::memcmp(a.bytes, addr.bytes, full) != 0) return false;
    if (rem == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
    return (a.bytes[full] & mask) == (addr.bytes[full] & mask);
}

std::string Prefix::to_string() const { return fmt::format("{}/{}", addr.to_string(), len); }

std::optional<Prefix> parse_prefix(std::string_view text) {
    Prefix p;
    auto slash = text.find('/');
    auto a = net::IpAddr::parse(text.substr(0, slash));
    if (!a) return std::nullopt;
    p.addr = *a;
    uint32_t max = a->family == 4 ? 32 : 128;
    if (slash == std::string_view::npos) {
        p.len = static_cast<uint8_t>(max);
        return p;
    }
    std::string_view l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3) return std::nullopt;
    uint32_t v = 0;
    for (char c : l) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v > max) return std::nullopt;
    p.len = static_cast<uint8_t>(v);
    return p;
}

std::optional<MacAddr> parse_mac(std::string_view text) {
    MacAddr m{};
    if (text.size() != 17) return std::nullopt;
    for (size_t i = 0; i < 6; ++i) {
        if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') return std::nullopt;
        unsigned v = 0;
        for (size_t j = 0; j < 2; ++j) {
            char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i * 3 + j])));
            if (c >= '0' && c <= '9') v = v * 16 + static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') v = v * 16 + static_cast<unsigned>(c - 'a' + 10);
            else return std::nullopt;
        }
        m[i] = static_cast<uint8_t>(v);
    }
    return m;
}

std::optional<crypto::Suite> parse_suite(std::string_view name) {
    for (auto& r : kSuites)
        if (r.name == name) return r.suite;
    return std::nullopt;
}

KeyBytes suite_key_bytes(crypto::Suite s) noexcept {
    KeyBytes k{0, 0};
    switch (s.cipher) {
    case crypto::Cipher::null: k.enc = 0; break;
    case crypto::Cipher::aes_cbc_128: k.enc = 16; break;
    case crypto::Cipher::aes_cbc_256: k.enc = 32; break;
    case crypto::Cipher::aes_gcm_128:
    case crypto::Cipher::aes_gmac_128: k.enc = 16 + 4; break;  // RFC 4106 §8.1: key || salt
    case crypto::Cipher::aes_gcm_256:
    case crypto::Cipher::aes_gmac_256:
    case crypto::Cipher::chacha20_poly1305: k.enc = 32 + 4; break;  // RFC 7634 §4
    }
    switch (s.integ) {
    case crypto::Integ::none: k.auth = 0; break;
    case crypto::Integ::hmac_sha1_96: k.auth = 20; break;
    case crypto::Integ::hmac_sha256_128: k.auth = 32; break;
    case crypto::Integ::hmac_sha512_256: k.auth = 64; break;
    }
    return k;
}

Config parse_config(std::string_view toml_text) {
    toml::table root;
    try {
        root = toml::parse(toml_text);
    } catch (const toml::parse_error& e) {
        throw ConfigError(fmt::format("line {}:{}: {}", e.source().begin.line, e.source().begin.column,
                                      e.description()));
    }
    Section top(root, "", {"dataplane", "port", "route", "neighbor", "sa", "policy", "nat", "masquerade", "firewall"});
    Config cfg;
    parse_dataplane(root, cfg);
    parse_ports(root, cfg);
    parse_routes(root, cfg);
    parse_neighbors(root, cfg);
    parse_sas(root, cfg);
    parse_policies(root, cfg);
    cfg.nat = nat::parse_nat_config(root, cfg.ports, cfg.dataplane.nat_t_port);
    cfg.firewall = fw::parse_firewall_config(root);
    size_t nroutes = cfg.routes.size();
    for (auto& p : cfg.ports) nroutes += p.addresses.size();
    if (nroutes > cfg.dataplane.max_routes)
        fail("dataplane.max_routes", fmt::format("{} is smaller than the {} static and connected routes",
                                                 cfg.dataplane.max_routes, nroutes));
    return cfg;
}

SaEntry parse_sa_entry(std::string_view text, const DataplaneConfig& dpc) {
    return parse_sa(parse_entry_text(text), "sa", dpc);
}

PolicyConfig parse_policy_entry(std::string_view text) { return parse_policy(parse_entry_text(text), "policy", nullptr); }

RouteConfig parse_route_entry(std::string_view text, const Config& cfg) {
    return parse_route(parse_entry_text(text), "route", cfg);
}

std::string key_values_to_toml(const std::vector<std::string>& args, std::string_view what) {
    std::string out;
    std::set<std::string> seen;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const size_t eq = a.find('=');
        // Never quote the argument itself in errors: it may be a key.
        if (eq == std::string::npos || eq == 0)
            fail(std::string(what), fmt::format("argument {} is not key=value", i + 1));
        const std::string k = a.substr(0, eq);
        const std::string v = a.substr(eq + 1);
        for (char c : k)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_')
                fail(std::string(what), fmt::format("argument {}: a key is letters, digits and _", i + 1));
        const std::string path = fmt::format("{}.{}", what, k);
        if (!seen.insert(k).second) fail(path, "given twice");
        for (char c : v)
            if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                fail(path, "value holds a quote, backslash or control character");
        auto all = [&](size_t from, auto pred) {
            if (from >= v.size()) return false;
            for (size_t j = from; j < v.size(); ++j)
                if (!pred(static_cast<unsigned char>(v[j]))) return false;
            return true;
        };
        const bool dec = all(v[0] == '-' ? 1 : 0, [](unsigned char c) { return std::isdigit(c) != 0; });
        const bool hex = k != "keymat" && v.size() > 2 && v.size() <= 18 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') &&
                         all(2, [](unsigned char c) { return std::isxdigit(c) != 0; });
        if (v == "true" || v == "false" || (dec && k != "keymat"))
            out += fmt::format("{} = {}\n", k, v);
        else if (hex)
            out += fmt::format("{} = 0x{}\n", k, v.substr(2));
        else
            out += fmt::format("{} = \"{}\"\n", k, v);
    }
    return out;
}

Config load_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw ConfigError(fmt::format("{}: cannot be read", path));
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return parse_config(ss.str());
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", path, e.what()));
    }
}

}  // namespace espgw::dp

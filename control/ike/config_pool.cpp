#include "control/ike/config_pool.hpp"

#include "control/ike/address_pool.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <stdexcept>

namespace espgw::ike {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw std::invalid_argument(path + ": " + why);
}

uint32_t ipv4(const std::string& text, const std::string& path) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) fail(path, "'" + text + "' is not an IPv4 address");
    return ntohl(a.s_addr);
}

// A string or an array of strings at t[key].
std::vector<std::string> strings(const toml::table& t, const char* key, const std::string& path) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    if (auto s = n->value_exact<std::string>()) {
        out.push_back(*s);
        return out;
    }
    const toml::array* arr = n->as_array();
    if (!arr) fail(path + "." + key, "expected a string or an array of strings");
    for (size_t i = 0; i < arr->size(); ++i) {
        auto s = (*arr)[i].value_exact<std::string>();
        if (!s) fail(path + "." + key + "[" + std::to_string(i) + "]", "not a string");
        out.push_back(*s);
    }
    return out;
}

bool valid_domain(const std::string& d) {
    // RFC 8598 §4: a DNS domain name in presentation form, no NUL, at most 253 characters.
    if (d.empty() || d.size() > 253 || d.front() == '.' || d.find("..") != std::string::npos) return false;
    for (char c : d)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
    return true;
}

}  // namespace

void parse_pool_options(const toml::table& t, const std::string& path, PoolConfig& p) {
    for (const auto& s : strings(t, "nbns", path)) p.nbns4.push_back(ipv4(s, path + ".nbns"));
    for (const auto& d : strings(t, "dns_domain", path)) {
        if (!valid_domain(d)) fail(path + ".dns_domain", "'" + d + "' is not a DNS domain name");
        p.dns_domains.push_back(d);
    }
    for (const auto& g : strings(t, "groups", path)) {
        if (g.empty() || g.size() > 64) fail(path + ".groups", "group names have 1..64 characters");
        p.groups.push_back(g);
    }
    const auto splits = strings(t, "split_include", path);
    if (!splits.empty() && p.family != 4)
        fail(path + ".split_include", "split_include (INTERNAL_IP4_SUBNET) belongs to an IPv4 pool");
    for (size_t i = 0; i < splits.size(); ++i) {
        const std::string key = path + ".split_include[" + std::to_string(i) + "]";
        const std::string& s = splits[i];
        const auto slash = s.find('/');
        if (slash == std::string::npos) fail(key, "expected a.b.c.d/len");
        const uint32_t net = ipv4(s.substr(0, slash), key);
        int len = -1;
        try {
            size_t used = 0;
            len = std::stoi(s.substr(slash + 1), &used);
            if (used != s.size() - slash - 1) len = -1;
        } catch (const std::exception&) {
            len = -1;
        }
        if (len < 0 || len > 32) fail(key, "bad prefix length in '" + s + "'");
        const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
        if ((net & ~mask) != 0) fail(key, "'" + s + "' has host bits set");
        p.split_include.emplace_back(net, mask);
    }
    if (const toml::node* n = t.get("static")) {
        const toml::table* st = n->as_table();
        if (!st) fail(path + ".static", "expected a table of \"identity\" = \"address\"");
        const AddressPool range(p.name, p.cidr);
        std::map<PoolAddr, std::string> taken;
        for (const auto& [k, v] : *st) {
            const std::string id(k.str());
            const std::string key = path + ".static.\"" + id + "\"";
            auto s = v.value_exact<std::string>();
            if (!s) fail(key, "expected an address string");
            const auto parsed = parse_pool_addr(*s);
            if (!parsed || parsed->first != p.family)
                fail(key, "'" + *s + "' is not an IPv" + std::to_string(p.family) + " address (the pool's family)");
            const PoolAddr addr = parsed->second;
            // Issue 4: a static address overrides the pool, so it must never be one the
            // pool could hand to somebody else.
            if (addr >= range.first() - 1 && addr <= range.last() + 1)
                fail(key, "'" + *s + "' lies inside the pool's range " + p.cidr + "; static addresses must lie outside it");
            if (auto [it, fresh] = taken.emplace(addr, id); !fresh)
                fail(key, "'" + *s + "' is already the static address of \"" + it->second + "\"");
            p.static_ips[id] = addr;
        }
    }
}

}  // namespace espgw::ike

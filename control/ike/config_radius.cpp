#include "control/ike/config_radius.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <stdexcept>

namespace espgw::ike {

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& why) {
    throw std::invalid_argument("radius." + key + ": " + why);
}

uint16_t port_of(const toml::table& t, const char* key, uint16_t dflt, const std::string& path) {
    const toml::node* n = t.get(key);
    if (!n) return dflt;
    auto v = n->value<int64_t>();
    if (!v || *v <= 0 || *v > 65535) fail(path + "." + key, "expected a port number 1..65535");
    return static_cast<uint16_t>(*v);
}

}  // namespace

RadiusConfig parse_radius_config(const toml::table& t) {
    static const char* const known[] = {"servers", "timeout_s", "retries", "nas_identifier", "accounting", "interim_s"};
    for (const auto& [k, v] : t) {
        bool ok = false;
        for (const char* n : known) ok |= k.str() == n;
        if (!ok) fail(std::string(k.str()), "unknown key");
    }
    RadiusConfig rc;
    const toml::array* servers = t["servers"].as_array();
    if (!servers || servers->empty()) fail("servers", "at least one server { address, secret } is required");
    for (size_t i = 0; i < servers->size(); ++i) {
        const std::string path = "servers[" + std::to_string(i) + "]";
        const toml::table* s = (*servers)[i].as_table();
        if (!s) fail(path, "expected a table { address, port, acct_port, secret }");
        for (const auto& [k, v] : *s)
            if (k.str() != "address" && k.str() != "port" && k.str() != "acct_port" && k.str() != "secret")
                fail(path + "." + std::string(k.str()), "unknown key");
        radius::ServerConfig sc;
        auto addr = (*s)["address"].value<std::string>();
        in_addr a{};
        if (!addr || inet_pton(AF_INET, addr->c_str(), &a) != 1) fail(path + ".address", "expected an IPv4 address");
        sc.address = *addr;
        sc.port = port_of(*s, "port", 1812, path);
        sc.acct_port = port_of(*s, "acct_port", 1813, path);
        auto secret = (*s)["secret"].value<std::string>();
        // RFC 2865 §3: the secret must not be empty; RFC 6614 and common practice ask for
        // at least 16 characters, but operators' existing secrets are often shorter.
        if (!secret || secret->empty()) fail(path + ".secret", "missing or empty (a string)");
        if (secret->size() > 128) fail(path + ".secret", "longer than 128 characters");
        sc.secret = std::make_shared<const crypto::SecretBytes>(
            std::span(reinterpret_cast<const uint8_t*>(secret->data()), secret->size()));
        crypto::secure_wipe(secret->data(), secret->size());
        rc.client.servers.push_back(std::move(sc));
    }
    if (const toml::node* n = t.get("timeout_s")) {
        auto v = n->value<double>();
        if (!v || !(*v > 0) || *v > 600) fail("timeout_s", "expected seconds in (0, 600]");
        rc.client.timeout_s = *v;
    }
    if (const toml::node* n = t.get("retries")) {
        auto v = n->value<int64_t>();
        if (!v || *v < 0 || *v > 10) fail("retries", "expected an integer 0..10");
        rc.client.retries = static_cast<uint32_t>(*v);
    }
    if (const toml::node* n = t.get("nas_identifier")) {
        auto v = n->value<std::string>();
        if (!v || v->empty() || v->size() > 253) fail("nas_identifier", "expected a string of 1..253 characters");
        rc.nas_identifier = *v;
    }
    if (const toml::node* n = t.get("accounting")) {
        if (!n->is_boolean()) fail("accounting", "must be true or false");
        rc.accounting = *n->value<bool>();
    }
    if (const toml::node* n = t.get("interim_s")) {
        auto v = n->value<int64_t>();
        if (!v || *v < 0 || *v > 86400) fail("interim_s", "expected seconds 0..86400 (0: no interim updates)");
        rc.interim_s = static_cast<uint32_t>(*v);
    }
    return rc;
}

}  // namespace espgw::ike

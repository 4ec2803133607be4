#include "control/ike/config.hpp"

#include "control/ike/address_pool.hpp"
#include "control/ike/config_pool.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/traffic_selector.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace espgw::ike {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
    throw std::invalid_argument(path + ": " + why);
}

std::string need_string(const toml::table& t, const std::string& key, const std::string& path) {
    auto v = t[key].value<std::string>();
    if (!v) fail(path + "." + key, "missing or not a string");
    return *v;
}

std::vector<std::string> string_list(const toml::table& t, const std::string& key, const std::string& path) {
    std::vector<std::string> out;
    const toml::node* n = t.get(key);
    if (!n) return out;
    const toml::array* arr = n->as_array();
    if (!arr) fail(path + "." + key, "not an array of strings");
    for (size_t i = 0; i < arr->size(); ++i) {
        auto s = (*arr)[i].value<std::string>();
        if (!s) fail(path + "." + key + "[" + std::to_string(i) + "]", "not a string");
        out.push_back(*s);
    }
    return out;
}

bool n_is_list(const toml::table& t, const char* key) {
    const toml::node* n = t.get(key);
    return n && n->is_array();
}

// [ike] lifecycle keys: whole seconds >= 0 (retransmit_* may be fractional).
void parse_lifecycle(const toml::table& ike, IkeConfig& cfg) {
    auto secs = [&](const char* key, uint32_t& out) {
        const toml::node* n = ike.get(key);
        if (!n) return;
        auto v = n->value<int64_t>();
        if (!v || *v < 0 || *v > 86400 * 365) fail(std::string("ike.") + key, "not a non-negative integer");
        out = static_cast<uint32_t>(*v);
    };
    secs("rekey_time", cfg.child_rekey_time_s);
    secs("life_time", cfg.child_life_time_s);
    secs("dpd_delay", cfg.dpd_delay_s);
    secs("retransmit_tries", cfg.retransmit_tries);
    secs("keepalive", cfg.keepalive_s);
    secs("cookie_threshold", cfg.cookie_threshold);
    secs("cookie_secret_time", cfg.cookie_secret_s);
    secs("half_open_timeout", cfg.half_open_timeout_s);
    secs("restart_grace", cfg.restart_grace_s);
    if (!ike.get("life_time") && cfg.child_rekey_time_s) cfg.child_life_time_s = cfg.child_rekey_time_s * 11 / 10;
    cfg.retransmit_timeout_s = ike["retransmit_timeout"].value_or(cfg.retransmit_timeout_s);
    cfg.retransmit_base = ike["retransmit_base"].value_or(cfg.retransmit_base);
    if (!(cfg.retransmit_timeout_s > 0 && cfg.retransmit_timeout_s <= 600))
        fail("ike.retransmit_timeout", "must be in (0, 600] seconds");
    if (!(cfg.retransmit_base >= 1 && cfg.retransmit_base <= 10)) fail("ike.retransmit_base", "must be in [1, 10]");
    if (cfg.child_life_time_s && cfg.child_rekey_time_s && cfg.child_life_time_s <= cfg.child_rekey_time_s)
        fail("ike.life_time", "must be longer than rekey_time");
    if (cfg.cookie_secret_s == 0) fail("ike.cookie_secret_time", "must be > 0");
}

}  // namespace

IkeConfig parse_config(std::string_view text) {
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        std::ostringstream os;
        os << e.source().begin;
        throw std::invalid_argument("TOML syntax error at " + os.str() + ": " + std::string(e.description()));
    }
    IkeConfig cfg;
    if (const toml::table* ike = root["ike"].as_table()) {
        cfg.listen_addr = (*ike)["listen"].value_or(cfg.listen_addr);
        in_addr a{};
        if (inet_pton(AF_INET, cfg.listen_addr.c_str(), &a) != 1) fail("ike.listen", "not an IPv4 address");
        const int64_t port = (*ike)["port"].value_or(int64_t{500});
        const int64_t natt = (*ike)["natt_port"].value_or(int64_t{4500});
        if (port <= 0 || port > 65535) fail("ike.port", "out of range");
        if (natt <= 0 || natt > 65535 || natt == port) fail("ike.natt_port", "out of range or equal to port");
        cfg.port = static_cast<uint16_t>(port);
        cfg.natt_port = static_cast<uint16_t>(natt);
        cfg.sa_output = (*ike)["sa_output"].value_or(std::string{});
        cfg.control_group = (*ike)["control_group"].value_or(cfg.control_group);
        if (cfg.control_group.empty() || cfg.control_group.size() > 64 ||
            cfg.control_group.find_first_of(" \t\n:/") != std::string::npos)
            fail("ike.control_group", "expected a group name");
        cfg.lease_file = (*ike)["lease_file"].value_or(std::string{});
        auto path_key = [&](const char* key, std::string& out) {
            const toml::node* n = ike->get(key);
            if (!n) return;
            auto v = n->value<std::string>();
            if (!v || v->empty() || v->find('\0') != std::string::npos) fail(std::string("ike.") + key, "expected a file path");
            out = *v;
        };
        path_key("users_file", cfg.users_file);
        path_key("users_key_file", cfg.users_key_file);
        if (!cfg.users_key_file.empty() && cfg.users_file.empty()) fail("ike.users_key_file", "needs ike.users_file");
        if (!cfg.users_file.empty() && cfg.users_key_file.empty()) cfg.users_key_file = cfg.users_file + ".key";
        if (!cfg.users_file.empty() && cfg.users_key_file == cfg.users_file)
            fail("ike.users_key_file", "must differ from ike.users_file");
        parse_lifecycle(*ike, cfg);
        parse_fragmentation(*ike, cfg.fragmentation);
        if (const toml::node* n = ike->get("legacy_algorithms")) {
            if (!n->is_boolean()) fail("ike.legacy_algorithms", "must be true or false");
            cfg.legacy_algorithms = *n->value<bool>();
        }
    }
    if (const toml::table* pools = root["pools"].as_table()) {
        for (const auto& [k, v] : *pools) {
            const std::string name(k.str());
            const std::string path = "pools." + name;
            const toml::table* t = v.as_table();
            if (!t) fail(path, "not a table");
            PoolConfig p;
            p.name = name;
            p.cidr = need_string(*t, "cidr", path);
            try {
                p.family = AddressPool(name, p.cidr).family();
            } catch (const std::invalid_argument& e) {
                fail(path + ".cidr", e.what());
            }
            // INTERNAL_IP4_DNS / INTERNAL_IP6_DNS by the server's family, whatever the pool's.
            for (const auto& d : string_list(*t, "dns", path)) {
                const auto a = parse_pool_addr(d);
                if (!a) fail(path + ".dns", "'" + d + "' is not an IPv4 or IPv6 address");
                if (a->first == 4) p.dns4.push_back(static_cast<uint32_t>(a->second));
                else p.dns6.push_back(ip6_from_pool(a->second));
            }
            parse_pool_options(*t, path, p);
            cfg.pools[name] = std::move(p);
        }
    }
    if (const toml::table* pki = root["pki"].as_table()) {
        cfg.pki_cacerts = string_list(*pki, "cacerts", "pki");
        cfg.pki_crls = string_list(*pki, "crls", "pki");
        cfg.crl_strict = (*pki)["crl_strict"].value_or(false);
        try {
            cfg.trust = TrustStore::load(cfg.pki_cacerts, cfg.pki_crls, cfg.crl_strict);
        } catch (const std::invalid_argument& e) {
            fail("pki", e.what());
        }
    }
    if (const toml::node* rn = root.get("radius")) {
        const toml::table* rt = rn->as_table();
        if (!rt) fail("radius", "not a table");
        cfg.radius = parse_radius_config(*rt);
    }
    const toml::array* conns = root["connections"].as_array();
    if (!conns || conns->empty()) fail("connections", "at least one [[connections]] is required");
    for (size_t i = 0; i < conns->size(); ++i) {
        const std::string path = "connections[" + std::to_string(i) + "]";
        const toml::table* t = (*conns)[i].as_table();
        if (!t) fail(path, "not a table");
        ConnectionConfig c;
        c.name = need_string(*t, "name", path);
        try {
            c.local_id = Identity::parse(need_string(*t, "local_id", path));
            c.remote_id = Identity::parse((*t)["remote_id"].value_or(std::string("%any")));
        } catch (const std::invalid_argument& e) {
            fail(path + ".local_id/remote_id", e.what());
        }
        c.auth = (*t)["auth"].value_or(std::string("psk"));
        if (c.auth != "psk" && c.auth != "pubkey") fail(path + ".auth", "expected \"psk\" or \"pubkey\"");
        try {
            const std::string rid = (*t)["remote_id"].value_or(std::string("%any"));
            if (looks_like_dn(rid)) {
                c.remote_dn_mask = dn_from_string(rid);
                c.remote_id = Identity{IdType::DER_ASN1_DN, c.remote_dn_mask, false};
            }
            const std::string lid = need_string(*t, "local_id", path);
            if (looks_like_dn(lid)) c.local_id = Identity{IdType::DER_ASN1_DN, dn_from_string(lid), false};
        } catch (const std::invalid_argument& e) {
            fail(path + ".local_id/remote_id", e.what());
        }
        if (c.auth == "pubkey") {
            c.local_cert = need_string(*t, "local_cert", path);
            c.local_key = need_string(*t, "local_key", path);
            try {
                c.local_cred = LocalCredential::load(c.local_cert, c.local_key);
            } catch (const std::invalid_argument& e) {
                fail(path + ".local_cert/local_key", e.what());
            }
        } else {
        const std::string psk = need_string(*t, "psk", path);
        if (psk.size() < 8) fail(path + ".psk", "shorter than 8 characters");
        c.psk = std::make_shared<crypto::SecretBytes>(
            std::span(reinterpret_cast<const uint8_t*>(psk.data()), psk.size()));
        }
        auto parse_list = [&](const std::string& key, ProtocolId proto, std::vector<Algorithms>& out) {
            const auto list = string_list(*t, key, path);
            if (list.empty()) fail(path + "." + key, "at least one proposal is required");
            for (size_t j = 0; j < list.size(); ++j) {
                try {
                    out.push_back(parse_proposal(list[j], proto));
                } catch (const std::invalid_argument& e) {
                    fail(path + "." + key + "[" + std::to_string(j) + "]", e.what());
                }
                // Issue 7's algorithm policy: insecure algorithms only for legacy clients.
                const std::string weak = legacy_parts(out.back());
                if (!weak.empty() && !cfg.legacy_algorithms)
                    fail(path + "." + key + "[" + std::to_string(j) + "]",
                         "'" + list[j] + "' uses insecure algorithms (" + weak +
                             "): set [ike] legacy_algorithms = true to allow them for legacy clients");
            }
        };
        parse_list("ike_proposals", ProtocolId::IKE, c.ike_proposals);
        parse_list("esp_proposals", ProtocolId::ESP, c.esp_proposals);
        auto ts_list = [&](const std::string& key, std::vector<TrafficSelector>& out) {
            for (const auto& s : string_list(*t, key, path)) {
                try {
                    out.push_back(ts_from_cidr(s));
                } catch (const std::invalid_argument& e) {
                    fail(path + "." + key, e.what());
                }
            }
        };
        ts_list("local_ts", c.local_ts);
        ts_list("remote_ts", c.remote_ts);
        if (c.local_ts.empty()) c.local_ts.push_back(ts_from_cidr("0.0.0.0/0"));
        // pool = "rw" | ["rw", "rw6", ...] (also spelled pools): per family the first pool
        // whose groups admit the user is used (virtual_ip.hpp).
        if (t->contains("pool") && t->contains("pools")) fail(path + ".pools", "give either pool or pools");
        const char* pool_key = t->contains("pools") ? "pools" : "pool";
        if (const toml::node* n = t->get(pool_key)) {
            if (auto one = n->value_exact<std::string>()) c.pools.push_back(*one);
            else c.pools = string_list(*t, pool_key, path);
        }
        for (size_t i = 0; i < c.pools.size(); ++i) {
            const std::string key = path + "." + pool_key + (n_is_list(*t, pool_key) ? "[" + std::to_string(i) + "]" : "");
            if (!cfg.pools.count(c.pools[i])) fail(key, "no pool named '" + c.pools[i] + "'");
            for (size_t j = 0; j < i; ++j)
                if (c.pools[j] == c.pools[i]) fail(key, "pool '" + c.pools[i] + "' listed twice");
        }
        if (const toml::node* n = t->get("nas_identifier")) {
            auto v = n->value<std::string>();
            if (!v || v->empty() || v->size() > 253) fail(path + ".nas_identifier", "expected a string of 1..253 characters");
            c.nas_identifier = *v;
        }
        // Issue 6: remote_auth = "eap-mschapv2" | "eap-gtc" | "eap-tls" | "eap-radius"
        // authenticates the peer's user with EAP (RFC 7296 §2.16) after we authenticated
        // by certificate.
        c.remote_auth = (*t)["remote_auth"].value_or(std::string{});
        if (!c.remote_auth.empty()) {
            if (c.remote_auth != "eap-mschapv2" && c.remote_auth != "eap-gtc" && c.remote_auth != "eap-tls" &&
                c.remote_auth != "eap-radius")
                fail(path + ".remote_auth", "expected \"eap-mschapv2\", \"eap-gtc\", \"eap-tls\" or \"eap-radius\"");
            if (c.auth != "pubkey") fail(path + ".remote_auth", "EAP needs auth = \"pubkey\" (we authenticate by certificate)");
        }
        if (const toml::node* n = t->get("eap_tls_version_max")) {
            const auto v = n->value<std::string>();
            if (!v || (*v != "1.2" && *v != "1.3")) fail(path + ".eap_tls_version_max", "expected \"1.2\" or \"1.3\"");
            if (c.remote_auth != "eap-tls") fail(path + ".eap_tls_version_max", "needs remote_auth = \"eap-tls\"");
            c.eap_tls_version_max = *v == "1.2" ? 0x0303 : 0x0304;
        }
        if (const toml::node* n = t->get("eap_only")) {
            if (!n->is_boolean()) fail(path + ".eap_only", "must be true or false");
            c.eap_only = *n->value<bool>();
            // RFC 5998 §4: only mutual, key-generating methods may replace our AUTH.
            if (c.eap_only && c.remote_auth != "eap-tls")
                fail(path + ".eap_only", "needs remote_auth = \"eap-tls\" (RFC 5998: a mutual EAP method)");
        }
        const std::string eap_identity = (*t)["eap_identity"].value_or(std::string("ike"));
        if (eap_identity != "ike" && eap_identity != "ask") fail(path + ".eap_identity", "expected \"ike\" or \"ask\"");
        c.eap_identity_ask = eap_identity == "ask";
        if (const toml::node* n = t->get("multiple_auth")) {
            if (!n->is_boolean()) fail(path + ".multiple_auth", "must be true or false");
            c.multiple_auth = *n->value<bool>();
            if (c.multiple_auth && c.remote_auth.empty())
                fail(path + ".multiple_auth", "needs remote_auth (the EAP round after the certificate)");
        }
        if (const auto ra = (*t)["remote_addr"].value<std::string>()) {
            in_addr a{};
            if (inet_pton(AF_INET, ra->c_str(), &a) != 1) fail(path + ".remote_addr", "not an IPv4 address");
            c.remote_addr = ntohl(a.s_addr);
        }
        const std::string start_action = (*t)["start_action"].value_or(std::string("none"));
        if (start_action != "none" && start_action != "start") fail(path + ".start_action", "expected \"none\" or \"start\"");
        c.start = start_action == "start";
        if (c.start && !c.remote_addr) fail(path + ".start_action", "\"start\" needs remote_addr");
        const std::string dpd_action = (*t)["dpd_action"].value_or(std::string(c.start ? "restart" : "clear"));
        if (dpd_action != "clear" && dpd_action != "restart") fail(path + ".dpd_action", "expected \"clear\" or \"restart\"");
        c.dpd_restart = dpd_action == "restart";
        if (c.dpd_restart && !c.remote_addr) fail(path + ".dpd_action", "\"restart\" needs remote_addr");
        if (const toml::node* n = t->get("mode")) {
            const auto v = n->value_exact<std::string>();
            if (!v || (*v != "tunnel" && *v != "transport"))
                fail(path + ".mode", "expected \"tunnel\" or \"transport\"");
            c.mode = *v == "transport" ? ChildMode::transport : ChildMode::tunnel;
            // A virtual IP is an inner address: only a tunnel can carry it (RFC 7296 §2.19).
            if (c.mode == ChildMode::transport && !c.pools.empty())
                fail(path + ".mode", "\"transport\" cannot hand out virtual IPs (pool): they need tunnel mode");
        }
        cfg.connections.push_back(std::move(c));
    }
    for (size_t i = 0; i < cfg.connections.size(); ++i)
        if (cfg.connections[i].auth == "pubkey" && !cfg.trust)
            fail("connections[" + std::to_string(i) + "].auth", "\"pubkey\" needs a [pki] table with cacerts");
    return cfg;
}

IkeConfig load_config(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument(path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_config(ss.str());
}

}  // namespace espgw::ike

// `user ...` commands of espgw-ike's CLI socket (issue 6): the local user database is
// changed on a copy, the copy is saved atomically, and only then does it replace the
// live database, so a failed save changes nothing and a saved change applies to the
// next login without a restart. Values arrive percent-encoded (espctl encodes them) so
// real names with spaces and any password fit the one-line protocol. Passwords are
// never logged or answered, and are wiped once hashed; answers never carry hashes.
#include "control/ike/address_pool.hpp"
#include "control/ike/control_commands.hpp"
#include "control/ike/log.hpp"
#include "crypto/secret.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>

namespace espgw::ike {

namespace {

std::string error_json(std::string_view code, std::string_view msg) {
    return fmt::format("{{\"error\":{},\"code\":{}}}", json_string(msg), json_string(code));
}

/// Percent-decoding (RFC 3986 §2.1); nullopt for a malformed escape.
std::optional<std::string> pct_decode(std::string_view s) {
    std::string o;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            o += s[i];
            continue;
        }
        const int h = i + 2 < s.size() ? nib(s[i + 1]) : -1;
        const int l = i + 2 < s.size() ? nib(s[i + 2]) : -1;
        if (h < 0 || l < 0) {
            crypto::secure_wipe(o.data(), o.size());
            return std::nullopt;
        }
        o += static_cast<char>(h << 4 | l);
        i += 2;
    }
    return o;
}

/// Wipes a string's bytes (passwords) when it goes out of scope.
struct WipeOnExit {
    std::string& s;
    ~WipeOnExit() { crypto::secure_wipe(s.data(), s.size()); }
};

std::string user_json(const User& u) {
    std::string groups;
    for (const auto& g : u.groups) groups += (groups.empty() ? "" : ",") + g;
    return fmt::format(
        "{{\"name\":{},\"real_name\":{},\"email\":{},\"static_ip\":{},\"groups\":{},\"enabled\":{},\"mschapv2\":{}}}",
        json_string(u.name), json_string(u.real_name), json_string(u.email),
        u.static_ip ? json_string(ipv4_to_string(*u.static_ip)) : "null", json_string(groups), u.enabled,
        !u.nt_hash_sealed.empty());
}

/// An invalid_argument of UserDb: a conflict with another user is a refusal, anything
/// else a malformed value.
std::string db_error(const std::string& what) {
    const bool conflict = what.find(" is used by ") != std::string::npos || what.find("is the e-mail of") != std::string::npos;
    return error_json(conflict ? "refused" : "bad_request", what);
}

}  // namespace

std::string IkeControl::user_command(const std::vector<std::string>& words) {
    if (!users_ || users_->path().empty())
        return error_json("refused", "no local user database: set [ike] users_file (then espctl reload)");
    if (words.size() < 2)
        return error_json("bad_request", "expected user list|show|add|set|passwd|del|enable|disable");
    const std::string& verb = words[1];
    if (verb == "list") {
        if (words.size() != 2) return error_json("bad_request", "user list takes no argument");
        std::string o = "[";
        for (const auto& [n, u] : users_->users()) o += (o.size() > 1 ? "," : "") + user_json(u);
        return o + "]";
    }
    static const std::map<std::string, std::vector<std::string>> keys = {
        {"show", {}},
        {"del", {}},
        {"enable", {}},
        {"disable", {}},
        {"add", {"password", "real_name", "email", "static_ip", "groups", "enabled"}},
        {"set", {"real_name", "email", "static_ip", "groups", "enabled"}},
        {"passwd", {"password"}},
    };
    const auto verb_it = keys.find(verb);
    if (verb_it == keys.end())
        return error_json("unknown_command",
                          fmt::format("unknown command \"user {}\" (list|show|add|set|passwd|del|enable|disable)", verb));
    if (words.size() < 3) return error_json("bad_request", fmt::format("user {} needs a user name", verb));
    const std::string& name = words[2];
    if (auto why = check_user_name(name); !why.empty()) return error_json("bad_request", why);

    std::map<std::string, std::string> kv;
    std::string password;
    WipeOnExit wipe{password};
    for (size_t i = 3; i < words.size(); ++i) {
        const size_t eq = words[i].find('=');
        const std::string key = words[i].substr(0, eq);
        const auto& allowed = verb_it->second;
        if (eq == std::string::npos || std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            return error_json("bad_request", fmt::format("user {}: unexpected argument \"{}\" (keys: {})", verb,
                                                         key.substr(0, 32), fmt::join(allowed, " ")));
        auto value = pct_decode(std::string_view(words[i]).substr(eq + 1));
        if (!value) return error_json("bad_request", fmt::format("user {}: {}: bad percent-encoding", verb, key));
        if (key == "password")
            password = std::move(*value);
        else
            kv[key] = std::move(*value);
    }

    const User* cur = users_->find(name);
    if (cur && cur->name != name) cur = nullptr;  // an e-mail matched: commands take the name
    if (verb == "add" && cur)
        return error_json("refused", fmt::format("user {} exists (user set / user passwd change it)", name));
    if (verb != "add" && !cur) return error_json("refused", fmt::format("no user named \"{}\"", name));
    if (verb == "show") return user_json(*cur);
    if ((verb == "add" || verb == "passwd") && password.empty())
        return error_json("bad_request", fmt::format("user {}: a non-empty password is required", verb));

    User u = cur ? *cur : User{};
    u.name = name;
    if (auto it = kv.find("real_name"); it != kv.end()) u.real_name = it->second;
    if (auto it = kv.find("email"); it != kv.end()) {
        if (!it->second.empty())
            if (auto why = check_email(it->second); !why.empty()) return error_json("bad_request", why);
        u.email = it->second;
    }
    if (auto it = kv.find("static_ip"); it != kv.end()) {
        if (it->second.empty() || it->second == "none") {
            u.static_ip.reset();
        } else {
            in_addr a{};
            if (inet_pton(AF_INET, it->second.c_str(), &a) != 1)
                return error_json("bad_request", fmt::format("static_ip: \"{}\" is not an IPv4 address", it->second.substr(0, 64)));
            u.static_ip = ntohl(a.s_addr);
            if (auto why = static_ip_conflict(*u.static_ip, live_.pools); !why.empty())
                return error_json("refused", fmt::format("user {}: {}", name, why));
        }
    }
    if (auto it = kv.find("groups"); it != kv.end()) {
        u.groups.clear();
        size_t start = 0;
        const std::string& g = it->second;
        while (start < g.size()) {
            const size_t comma = g.find(',', start);
            const std::string one = g.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!one.empty()) u.groups.push_back(one);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    if (auto it = kv.find("enabled"); it != kv.end()) {
        if (it->second != "0" && it->second != "1" && it->second != "true" && it->second != "false")
            return error_json("bad_request", "enabled: expected 0 or 1");
        u.enabled = it->second == "1" || it->second == "true";
    }
    if (verb == "enable" || verb == "disable") u.enabled = verb == "enable";

    UserDb next = *users_;
    try {
        if (verb == "add")
            next.upsert(u, password);
        else if (verb == "passwd")
            next.set_password(name, password);
        else if (verb == "del")
            next.remove(name);
        else
            next.update(u);
    } catch (const std::invalid_argument& e) {
        return db_error(e.what());
    }
    std::string err;
    if (!next.save(&err)) {
        log_warn("CLI: user {} {}: user database not saved, nothing changed: {}", verb, name, err);
        return error_json("refused", fmt::format("cannot save the user database: {}", err));
    }
    *users_ = std::move(next);
    const User* now = users_->find(name);
    log_info("CLI: user {} {}{}", verb, name,
             now ? fmt::format(" (enabled {}, static IP {}, groups {})", now->enabled,
                               now->static_ip ? ipv4_to_string(*now->static_ip) : "none", fmt::join(now->groups, ","))
                 : std::string{});
    return fmt::format("{{\"ok\":true,\"user\":{},\"users\":{}}}", json_string(name), users_->users().size());
}

}  // namespace espgw::ike

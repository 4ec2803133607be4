// libFuzzer target: the requests of espgw-dp's control socket (issue 7: "the CLI
// protocol"; dataplane/dp/stats.hpp). The input is one request line, split into words
// as stats_answer() splits it; byte 0 picks the parser the request reaches:
//   0: `sa add KEY=VALUE...`     key_values_to_toml + parse_sa_entry (suite, keymat,
//                                 SPI, tunnel addresses, lifetimes, tags);
//   1: `policy add KEY=VALUE...` key_values_to_toml + parse_policy_entry;
//   2: `route add KEY=VALUE...`  key_values_to_toml + parse_route_entry;
//   3: `route del PREFIX`         parse_prefix on the one word, else as `route del
//                                 KEY=VALUE...` with the first port filled in.
// These are the pure parsers the socket runs before it touches the shared tables (the
// table writes need EAL and are tested by test/dp). A refused request is a ConfigError
// whose message must not quote the value of a `keymat` (key material). Anything may be
// refused; nothing may crash, leak or trip UBSan.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/dp/config.hpp"

namespace {

using namespace espgw;

const dp::Config& config() {
    static const dp::Config c = dp::parse_config(R"([dataplane]
workers = 1
[[port]]
name = "outside"
role = "outside"
device = "net_null0"
addresses = ["192.0.2.1/24", "2001:db8:1::1/64"]
[[port]]
name = "inside"
role = "inside"
device = "net_null1"
addresses = ["10.10.0.1/24"]
)");
    return c;
}

/// True for text shaped like key material: hex digits (an optional 0x), 16 or more.
/// Anything else cannot be a key, and may well be a piece of the message's own text
/// (a fuzzer found keymat=a.keymat: quoted back inside "sa.keymat: given ...").
bool looks_like_key(std::string_view v) {
    if (v.starts_with("0x") || v.starts_with("0X")) v.remove_prefix(2);
    if (v.size() < 16) return false;
    for (char c : v)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
}

/// The value of keymat= among `words` (the secret a message must not carry); empty
/// when it is not shaped like a key or when another word carries the same text (a
/// message may quote that one).
std::string keymat_of(const std::vector<std::string>& words) {
    std::string k;
    for (const auto& w : words)
        if (w.starts_with("keymat=") && looks_like_key(std::string_view(w).substr(7))) k = w.substr(7);
    if (k.empty()) return k;
    for (const auto& w : words)
        if (!w.starts_with("keymat=") && w.find(k) != std::string::npos) return {};
    return k;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)config();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1 || size > 4096) return 0;  // the socket refuses longer lines
    std::vector<std::string> words;
    std::istringstream ss(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
    for (std::string t; ss >> t;) words.push_back(std::move(t));
    const dp::Config& cfg = config();
    try {
        switch (data[0] % 4) {
            case 0: {
                const dp::SaEntry e =
                    dp::parse_sa_entry(dp::key_values_to_toml(words, "sa"), cfg.dataplane);
                const dp::KeyBytes kb = dp::suite_key_bytes(e.sa.suite);
                if (e.enc_keymat.size() != kb.enc || e.auth_key.size() != kb.auth) __builtin_trap();
                break;
            }
            case 1:
                (void)dp::parse_policy_entry(dp::key_values_to_toml(words, "policy"));
                break;
            case 2: {
                const dp::RouteConfig r =
                    dp::parse_route_entry(dp::key_values_to_toml(words, "route"), cfg);
                if (r.port >= cfg.ports.size()) __builtin_trap();
                break;
            }
            default:
                if (words.size() == 1 && words[0].find('=') == std::string::npos) {
                    (void)dp::parse_prefix(words[0]);
                } else {
                    std::string text = dp::key_values_to_toml(words, "route");
                    if (text.find("port =") == std::string::npos) text += "port = \"outside\"\n";
                    (void)dp::parse_route_entry(text, cfg);
                }
                break;
        }
    } catch (const dp::ConfigError& e) {
        const std::string k = keymat_of(words);
        if (!k.empty() && std::string_view(e.what()).find(k) != std::string_view::npos)
            __builtin_trap();
    }
    return 0;
}

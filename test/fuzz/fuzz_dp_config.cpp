// libFuzzer target: the espgw-dp configuration file (issue 7: "the config file"). The
// input is the file's text: dp::parse_config ([dataplane], [[port]], [[route]],
// [[neighbor]], [[sa]] with suites and key material, [[policy]], [nat] and
// [[masquerade]] (nat_config.cpp), [firewall] and its rules (fw_config.cpp)), and
// fw::parse_firewall_text, which `rules load PATH` on the control socket uses. A
// firewall that parses is checked the way espgw-dp installs it: validate(), tag bits
// resolved, and the reference matcher run over a few keys. The parser is pure code (no
// EAL). Anything may be refused; nothing may crash, leak or trip UBSan.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "dataplane/dp/config.hpp"
#include "dataplane/fw/fw_config.hpp"

namespace {

using namespace espgw;

void check_firewall(fw::RuleSet rs) {
    if (fw::validate(rs)) return;  // refused with a reason, as install would
    std::map<std::string, int> bits[2];
    (void)fw::resolve_tags(rs, [&](fw::TagKind k, const std::string& name) {
        auto& m = bits[static_cast<int>(k)];
        auto [it, fresh] = m.emplace(name, static_cast<int>(m.size()));
        return it->second < 32 ? it->second : -1;
    });
    for (uint8_t proto : {uint8_t{1}, uint8_t{6}, uint8_t{17}, uint8_t{50}})
        for (fw::Direction d : {fw::Direction::from_tunnel, fw::Direction::to_tunnel}) {
            fw::FwKey k;
            k.proto = proto;
            k.src = 0x0a140005;
            k.dst = 0x0a0a0001;
            k.src_port = 1234;
            k.dst_port = 443;
            k.groups = 1;
            k.conn = 1;
            k.dir = d;
            const int32_t r = fw::linear_match(rs, k);
            if (r < fw::kDefaultToTunnel || r >= static_cast<int32_t>(rs.rules.size()))
                __builtin_trap();
        }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const dp::Config c = dp::parse_config(text);
        for (const auto& p : c.ports)
            for (const auto& a : p.addresses) (void)a.to_string();
        for (const auto& r : c.routes) (void)r.prefix.to_string();
        for (const auto& p : c.policies)
            if (p.action == dp::PolicyAction::protect && p.sa_index >= c.sas.size())
                __builtin_trap();
        for (const auto& r : c.routes)
            if (r.port >= c.ports.size()) __builtin_trap();
        check_firewall(c.firewall.set);
    } catch (const dp::ConfigError&) {
        // refused with a message naming the key: what the parser must do
    }
    try {
        check_firewall(fw::parse_firewall_text(text).set);
    } catch (const dp::ConfigError&) {
    }
    return 0;
}

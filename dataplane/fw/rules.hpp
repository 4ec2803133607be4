#pragma once
// Firewall rules for tunnel traffic: an ordered list, first match wins, a default
// policy at the end (as Sophos UTM / mGuard / Firebox rule tables). IPv4 for now.
// Pure code (no EAL): the rule model, validation, and the linear reference matcher
// that tests hold the compiled classifier (classifier.hpp) against.
//
// Later (issue 6): rule sets per connection and direction, user/group sources,
// automatic rules that follow a tunnel's traffic selectors.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace espgw::fw {

enum class Action : uint8_t { allow, drop, reject };

/// One rule. Addresses host order, ranges inclusive.
struct Rule {
    uint32_t src_net = 0;
    uint8_t src_len = 0;
    uint32_t dst_net = 0;
    uint8_t dst_len = 0;
    uint8_t proto = 0;  ///< 0 = any
    uint16_t src_port_lo = 0, src_port_hi = 65535;  ///< TCP/UDP only
    uint16_t dst_port_lo = 0, dst_port_hi = 65535;  ///< TCP/UDP only
    int16_t icmp_type = -1;  ///< ICMP only; -1 = any type
    Action action = Action::allow;
    bool log = false;
    bool enabled = true;
    std::string comment;
};

/// An ordered rule list and the policy for packets no enabled rule matches.
struct RuleSet {
    std::vector<Rule> rules;
    Action default_action = Action::allow;
};

/// What the classifier looks at. Addresses host order. For ICMP, src_port holds the
/// type and dst_port the code (how rte_acl and the reference see them).
struct FwKey {
    uint8_t proto = 0;
    uint32_t src = 0, dst = 0;
    uint16_t src_port = 0, dst_port = 0;
};

/// nullopt when the rule set is valid, else the reason ("rule[3]: ports need tcp or
/// udp"). Control path.
std::optional<std::string> validate(const RuleSet& rs);

/// Index of the first enabled rule matching `k`, or -1 (default policy). The
/// reference semantics; O(rules). Any thread.
int32_t linear_match(const RuleSet& rs, const FwKey& k) noexcept;

/// "allow" / "drop" / "reject".
const char* action_name(Action a) noexcept;

}  // namespace espgw::fw

namespace espgw::fw {

/// [firewall] and its [[firewall.rule]] entries.
struct FirewallConfig {
    bool enabled = false;        ///< a [firewall] table was given
    RuleSet set;
    size_t max_acl_bytes = 0;    ///< rte_acl trie bound (0 = rte_acl's default)
};

}  // namespace espgw::fw

#pragma once
// Firewall rules for tunnel traffic: an ordered list, first match wins, a default
// policy at the end (as Sophos UTM / mGuard / Firebox rule tables). IPv4 for now.
// Pure code (no EAL): the rule model, validation, and the linear reference matcher
// that tests hold the compiled classifier (classifier.hpp) against.
//
// Tunnel sources by who is on the other end (issues 5 and 6): a rule may name user
// groups (source_group: the groups the IKE control process learnt for the user, from
// the local user database or RADIUS Class/Filter-Id) and IKE connections; the
// tunnel's SAs carry the matching tag bits (tables: SaMeta::fw_groups / fw_conn, names
// registered in the tables' tag registry): a from_tunnel rule matches the tags of the
// inbound SA the packet left, a to_tunnel rule (destination_group / destination_user /
// connection) those of the outbound SA its policy selected.
// A user identity (source_user) is a group named "user:<identity>" (kUserTagPrefix):
// espgw-ike adds it to a user's SA tags when a rule set has registered that name, so a
// user costs a tag bit only while some rule names it. A VPN pool (source_pool) is its
// CIDR, declared in the dataplane's [[firewall.pool]] (espgw-dp does not read
// espgw-ike's pools).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace espgw::fw {

enum class Action : uint8_t { allow, drop, reject };

/// Which traffic a rule filters: decrypted packets leaving a tunnel (the default), or
/// cleartext packets about to be encrypted into one (after NAT return translation).
enum class Direction : uint8_t { from_tunnel = 1, to_tunnel = 2 };

/// classify()/linear_match() result for a to_tunnel packet no rule matches (its default
/// policy is RuleSet::default_to_tunnel); -1 is the from_tunnel default.
inline constexpr int32_t kDefaultToTunnel = -2;

/// Group-name prefix of a user identity tag: "user:alice@example.com". Tag names are
/// at most 31 characters, so identities at most 31 - 5 = 26.
inline constexpr const char* kUserTagPrefix = "user:";
inline constexpr size_t kMaxUserIdentity = 26;

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
    Direction direction = Direction::from_tunnel;
    bool log = false;
    bool enabled = true;
    std::string comment;
    /// Who: the rule matches only packets from (from_tunnel) or into (to_tunnel) a
    /// tunnel whose user is in one of `groups` (any when empty) and whose IKE
    /// connection is one of `connections` (any when empty). Names as configured; the
    /// masks are their tag bits, resolved by resolve_tags() before the set is compiled.
    std::vector<std::string> groups;
    std::vector<std::string> connections;
    std::vector<std::string> users;  ///< identities: groups "user:<id>" (OR with `groups`)
    std::string pool;                ///< source_pool name (src_net/src_len hold its CIDR); display only
    uint32_t group_mask = 0;  ///< OR of the groups' bits (0: any)
    uint32_t conn_mask = 0;   ///< OR of the connections' bits (0: any)
};

/// An ordered rule list and the policy for packets no enabled rule matches.
struct RuleSet {
    std::vector<Rule> rules;
    Action default_action = Action::allow;       ///< from_tunnel packets no rule matches
    Action default_to_tunnel = Action::allow;    ///< to_tunnel packets no rule matches
    /// True when some enabled rule filters traffic into tunnels (else the outbound path
    /// skips the firewall).
    bool has_to_tunnel() const noexcept {
        for (const Rule& r : rules)
            if (r.enabled && r.direction == Direction::to_tunnel) return true;
        return default_to_tunnel != Action::allow;
    }
};

/// What the classifier looks at. Addresses host order. For ICMP, src_port holds the
/// type and dst_port the code (how rte_acl and the reference see them).
struct FwKey {
    uint8_t proto = 0;
    uint32_t src = 0, dst = 0;
    uint16_t src_port = 0, dst_port = 0;
    uint32_t groups = 0;  ///< tag bits of the user's groups (fw_groups of the SA: inbound / outbound by dir)
    uint32_t conn = 0;    ///< tag bit of the IKE connection (fw_conn of that SA)
    Direction dir = Direction::from_tunnel;
};

/// Which registry a tag name lives in.
enum class TagKind : uint8_t { group = 0, connection = 1 };

/// Fills every rule's group_mask / conn_mask from its names (users as "user:<id>"
/// groups) through `bit_of` (the
/// tables' registry: returns the name's bit 0..31, or -1 when it cannot have one).
/// nullopt, or the reason naming the rule ("rule[2]: group 'x': no tag bit left (32
/// groups at most)"). Control path.
template <class BitOf>
std::optional<std::string> resolve_tags(RuleSet& rs, BitOf&& bit_of) {
    for (size_t i = 0; i < rs.rules.size(); ++i) {
        Rule& r = rs.rules[i];
        r.group_mask = r.conn_mask = 0;
        for (int kind = 0; kind < 3; ++kind) {
            const auto& names = kind == 0 ? r.groups : kind == 1 ? r.connections : r.users;
            for (const std::string& n : names) {
                const std::string tag = kind == 2 ? kUserTagPrefix + n : n;
                const int b = bit_of(kind == 1 ? TagKind::connection : TagKind::group, tag);
                if (b < 0 || b > 31)
                    return "rule[" + std::to_string(i) + "]: " +
                           (kind == 0 ? "group '" : kind == 1 ? "connection '" : "user '") + n +
                           "': no tag bit left (32 groups, users included, and 32 connections at most)";
                (kind == 1 ? r.conn_mask : r.group_mask) |= 1u << b;
            }
        }
    }
    return std::nullopt;
}

/// nullopt when the rule set is valid, else the reason ("rule[3]: ports need tcp or
/// udp"). Control path.
std::optional<std::string> validate(const RuleSet& rs);

/// Index of the first enabled rule matching `k`, or -1 / kDefaultToTunnel (default
/// policy of k.dir). The reference semantics; O(rules). Any thread.
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
    uint32_t log_rate = 100;     ///< `log = true` lines per second and worker (burst as many)
};

}  // namespace espgw::fw

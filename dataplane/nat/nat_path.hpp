#pragma once
// Masquerade and firewall in the espgw-dp worker pipeline (DESIGN.md: inbound → inner
// policy + firewall → masquerade → route; outside → masquerade reverse → SPD →
// encrypt). The hooks the dp files call; the process-wide state (per-worker NAT
// tables, return-traffic hand-off rings, the RCU-published firewall) lives here.
//
// Threads: *_init/*_fini on the main lcore (from Worker's constructor/destructor);
// from_tunnel, to_public and worker_poll on the owning worker only (lock-free, no
// allocation); the *_json / rules_load functions on the control (stats) thread.

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/esp/classify.hpp"

struct rte_mbuf;

namespace espgw::dp {
struct Worker;
struct Dataplane;
}  // namespace espgw::dp

namespace espgw::nat {

/// Creates worker `w`'s NAT/firewall state; the first call also builds the process
/// state from w.dp.cfg (compiles the firewall: throws std::runtime_error with the
/// reason when the configured rule set is refused).
void worker_init(dp::Worker& w);
/// Releases it; the last call frees the process state. Workers stopped.
void worker_fini(dp::Worker& w) noexcept;

/// Decrypted packets leaving their tunnels (mbuf data at the IP header), a burst at a
/// time: the firewall classifies up to fw::Compiled::kBurst IPv4 packets per rte_acl
/// call (bench/results/2026-11-23-natfw: 1.5-3x cheaper per packet than one key per
/// call; first match; drop, or reject with ICMP/TCP RST sent back into the tunnel),
/// then each allowed packet is masqueraded when a [[masquerade]] rule matches its
/// source and its route leaves by the rule's port. tags[i]: m[i]'s inbound SA's
/// firewall tags (SaReader::fw_tags) for rules naming user groups or IKE connections.
/// keep[i]: continue forwarding m[i] (possibly translated); false: consumed (dropped
/// or rejected, counted). IPv6 passes untouched.
void from_tunnel_burst(dp::Worker& w, rte_mbuf* const* m, const uint64_t* tags, uint32_t n, bool* keep) noexcept;

/// True when a rule set named groups, connections or users, or had `log` rules (then
/// from_tunnel_burst needs the SAs' tags). Worker; relaxed read of a flag set at install.
bool firewall_uses_tags() noexcept;

/// The firewall's to_tunnel rules on cleartext about to be encrypted into tunnels
/// (outbound path, after the SPD picked the SA and NAT return translation), up to
/// fw::Compiled::kBurst keys per rte_acl call. tags[i]: the firewall tags of m[i]'s
/// outbound SA (SaReader::fw_tags) for rules naming the receiving user's groups or the
/// IKE connection (0 when firewall_uses_tags() is false). keep[i]: continue
/// encrypting m[i]; false: consumed (dropped, or rejected: the answer is routed back
/// to the sender; counted). IPv6 passes untouched. Owner worker of the SAs.
void to_tunnel_burst(dp::Worker& w, rte_mbuf* const* m, const uint64_t* tags, uint32_t n, bool* keep) noexcept;

/// True when the live rule set has to_tunnel rules (or a non-allow default for them).
/// Worker; relaxed read of a flag set around installs.
bool firewall_to_tunnel() noexcept;

/// Verdicts of to_public().
enum class ReturnVerdict : uint8_t {
    not_nat,     ///< not a NAT return packet: continue local handling
    consumed,    ///< handed to the owning worker or dropped (counted)
    translated,  ///< translated back; `cls` re-classified: send it into the outbound path
};

/// A packet arriving on `port` for one of our addresses: translated back when it
/// belongs to a NAT session (handed to the worker owning its public port first).
ReturnVerdict to_public(dp::Worker& w, uint16_t port, rte_mbuf* m, esp::Classification& cls) noexcept;

/// An ICMP error the gateway generated itself (fragmentation needed, RFC 1191) about a
/// packet it had just translated back: rewrites the quoted header to the public
/// address/port the remote host knows (RFC 5508 §4.2), so PMTU discovery works
/// through the NAT. `ip` is the error's IPv4 header, `len` its length; no-op for
/// anything else. Owning worker (the one that translated the quoted packet).
void gateway_icmp_error(dp::Worker& w, uint8_t* ip, uint32_t len) noexcept;

/// Once per poll iteration: return packets handed over by other workers, bounded
/// session expiry, the firewall's RCU quiescent report.
void worker_poll(dp::Worker& w) noexcept;

/// Main loop, between control-socket polls: prints the firewall's `log = true`
/// records the workers queued (one line each) and the count of suppressed ones.
void control_tick(const dp::Dataplane& dp);

/// JSON of the NAT state: per-worker and total sessions and counters, rules, and
/// top_talkers: the 10 inside addresses with the most live sessions (packets: those
/// translated for the address since its first current session), summed over workers
/// from their TalkerTables.
std::string nat_json(const dp::Dataplane& dp);
/// JSON of the live firewall rule set with per-rule counters.
std::string rules_json(const dp::Dataplane& dp);
/// Loads the [firewall] of the TOML file `path` and swaps it in (control thread;
/// blocks one grace period). {"ok":true,...} or {"error":"reason"} (old set stays).
std::string rules_load(const dp::Dataplane& dp, const std::string& path);

/// The control-socket commands of this module, as split words: "show nat" / "nat",
/// "show rules" / "rules", "rules load PATH", "nat flush" (every worker drops its
/// sessions, 4096 per poll). Returns the JSON answer (no newline), or
/// "" when the words are not one of these. Control thread.
std::string natfw_answer(const dp::Dataplane& dp, const std::vector<std::string>& words);

}  // namespace espgw::nat

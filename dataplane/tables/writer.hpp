#pragma once
// The writer API of the shared tables: what espgw-ike (a DPDK secondary process) and
// espgw-dp's static configuration use to install, replace and delete SAs and SPD
// entries, read counters and drain expiry events.
//
// Getting a handle: the primary (espgw-dp) owns the tables (Tables::create); the
// control process attaches with Tables::attach_secondary(file_prefix, name) (or
// Tables::attach(name) after its own rte_eal_init). All functions here take that
// handle; none needs the process to be the primary.
//
// Concurrency: every mutating call (and query_counters/list_sas) takes the table set's
// writer lock, an rte_spinlock in shared memory, so calls from several threads or
// processes serialise; none of them may be made from a worker (reader) thread — a
// writer can wait one RCU grace period, which needs every worker's quiescent report.
// A process that dies holding the lock (crash inside a call) leaves the tables
// writable by no one: the primary must be restarted.
//
// Publication order (readers never see a half-built SA): the slot is filled while
// unreachable, marked live (release), then made reachable (rte_hash insert for the
// SPI, release store of the id entry). Retirement: unreachable first, then after an
// rte_rcu_qsbr grace period the keys are wiped (esp::sa_wipe) and the slot returns to
// the free list. Reclamation runs inside every writer call (non-blocking) and blocks
// for at most one grace period only when the free list is empty.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tables/tables.hpp"

namespace espgw::tables {

enum class WriteStatus : uint8_t {
    ok,
    bad_id,          ///< SA id >= max_ids or policy id out of range
    bad_params,      ///< esp::*_sa_init refused the config/keys, or an invalid policy
    id_in_use,       ///< install: the id already names an SA
    no_such_sa,      ///< replace/delete: the id names no SA (or the other direction)
    spi_in_use,      ///< inbound: another SA already has this SPI
    no_space,        ///< no free slot even after a grace period / no free policy slot
    no_such_policy,
    route_exists,    ///< add_route: the same family/prefix/length is already routed
    no_such_route,   ///< del_route: no such family/prefix/length
};

/// Outcome of a writer call. `error` is human-readable and never holds key bytes.
struct WriteResult {
    WriteStatus status = WriteStatus::ok;
    std::string error;
    bool ok() const noexcept { return status == WriteStatus::ok; }
};

/// Everything needed to install one SA direction.
struct SaParams {
    uint32_t id = 0;                     ///< control-plane id, < Limits::max_ids
    Direction dir = Direction::in;
    esp::SaConfig cfg;                   ///< spi (host order), suite, mode, ...
    std::span<const uint8_t> enc_keymat; ///< see crypto::session_init
    std::span<const uint8_t> auth_key;
    Lifetime life;                       ///< 0 = no limit
    uint32_t owner = kAnyOwner;          ///< worker owning the state; kAnyOwner: default_owner(id, workers)
    /// Firewall tags of the tunnel (tag_mask), on both directions' SAs: the user's
    /// groups and the IKE connection.
    uint32_t fw_groups = 0;
    uint32_t fw_conn = 0;
};

/// The firewall tag registry (layout.hpp TagRegistry). kind 0: user groups, 1: IKE
/// connections. tag_bit: the bit of `name`, registering it when new; -1 when the name
/// is empty, longer than kTagNameLen - 1, or all kMaxTags bits are taken. Writer rules.
int tag_bit(Tables& t, uint32_t kind, std::string_view name);
/// OR of tag_bit() over `names`; the names that got no bit go to *unplaced.
uint32_t tag_mask(Tables& t, uint32_t kind, const std::vector<std::string>& names,
                  std::vector<std::string>* unplaced = nullptr);
/// The registered names of `kind`, by bit. Any thread (acquire on the count).
std::vector<std::string> tag_names(const Tables& t, uint32_t kind);

/// Installs a new SA under a free id. Inbound SAs become reachable by SPI, outbound
/// by id (the SPD's protect entries name it). Fails with id_in_use, spi_in_use,
/// bad_params (nothing published, the slot wiped) or no_space. Writer rules above.
WriteResult install_sa(Tables& t, const SaParams& p);

/// Make-before-break replacement of the SA named p.id (same direction): the new SA is
/// built in a fresh slot, the index is switched atomically (same SPI: the rte_hash data
/// is swapped in place; new SPI: the new key is added, then the old key removed), then
/// the old slot is retired. Readers see the old or the new SA, never neither for the
/// same SPI. An outbound replacement with the same SPI continues the sequence number
/// at old + 2^20 (never reuses a (key, seq) pair). Fresh counters and lifetimes.
/// Failures as install_sa, plus no_such_sa; on failure the old SA stays.
WriteResult replace_sa(Tables& t, const SaParams& p);

/// Unpublishes the SA `id` (SPI lookup and id lookup fail from now on) and retires
/// its slot; keys are wiped after the grace period. no_such_sa when unknown.
WriteResult delete_sa(Tables& t, uint32_t id);

/// Adds an SPD entry and bumps the SPD generation; the primary's control thread
/// publishes it with refresh() (see publish.hpp). `*policy_id` receives its id.
/// bad_params for a family other than 4/6, a prefix longer than the family, an empty
/// port range or a protect with sa_id >= max_ids; no_space when the SPD is full.
/// A protect entry may name an SA not installed yet (lookups then say "no SA").
WriteResult install_policy(Tables& t, const Policy& p, uint32_t* policy_id);

/// Removes SPD entry `policy_id` and bumps the generation. no_such_policy when unknown.
WriteResult delete_policy(Tables& t, uint32_t policy_id);

/// Adds a route (host bits of the prefix are cleared) and bumps the route generation;
/// the primary's refresh() publishes it (publish.hpp). bad_params for a family other
/// than 4/6 or a length beyond the family; route_exists for the same family/prefix/
/// length (delete first: routes change make-before-break only through refresh());
/// no_space when max_routes records are in use. Writer rules above.
WriteResult add_route(Tables& t, const Route& r);

/// Removes the route of `family` (4/6) `prefix` (network order, host bits ignored)
/// `/len` and bumps the route generation. no_such_route when unknown.
WriteResult del_route(Tables& t, uint8_t family, const uint8_t* prefix, uint8_t len);

/// Counters of one SA, read relaxed from its owner's state (a snapshot, not a sync).
struct SaCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;          ///< inner bytes
    uint64_t seq = 0;            ///< outbound: last sequence number used; inbound: window top
    bool soft_expired = false;
    bool hard_expired = false;
    bool soft_event = false;     ///< the soft_expired event was pushed to the event ring
    bool hard_event = false;     ///< the hard_expired event was pushed
    SaDropCounters drops;        ///< per-reason drops of packets that matched this SA
};

/// Fills `out` for SA `id`; false when the id names no SA. Takes the writer lock.
bool query_counters(Tables& t, uint32_t id, SaCounters& out);

/// Drains up to out.size() expiry events; returns how many. Single consumer: one
/// thread of one process (the control process) only. Never blocks.
size_t poll_events(Tables& t, std::span<Event> out) noexcept;

/// One installed SA, without key material.
struct SaInfo {
    uint32_t id = 0;
    Direction dir = Direction::in;
    uint32_t spi = 0;    ///< host order
    uint32_t owner = 0;
    uint32_t slot = 0;
    Lifetime life;       ///< 0 = no limit
    SaCounters counters;
    uint32_t fw_groups = 0;  ///< firewall tag bits (tag_names(t, 0))
    uint32_t fw_conn = 0;    ///< (tag_names(t, 1))
    esp::Mode mode = esp::Mode::tunnel;
    bool udp_encap = false;
};

/// Every installed SA (e.g. for an IKE daemon re-reading the tables after a restart).
/// Takes the writer lock; allocates.
std::vector<SaInfo> list_sas(Tables& t);

/// One SPD entry as installed (id = the policy id install_policy returned).
struct PolicyInfo {
    uint32_t id = 0;
    Policy p;
};

/// Every installed SPD entry in match order (priority, then install order). Takes the
/// writer lock; allocates. Writer rules above.
std::vector<PolicyInfo> list_policies(Tables& t);

/// Every route record in use (host bits cleared), in record order. Takes the writer
/// lock; allocates. Writer rules above.
std::vector<Route> list_routes(Tables& t);

/// Returns retired slots whose grace period passed to the free lists (keys wiped
/// first). `wait`: block until the oldest retired slot is reclaimable (one poll-loop
/// iteration of every online worker). Returns the number reclaimed. Writer rules.
size_t reclaim(Tables& t, bool wait);

/// Live SAs per direction, SPD entries, routes, slots awaiting reclaim (writer lock
/// not taken: a hint). Any thread.
struct TableUsage {
    uint32_t in = 0, out = 0, policies = 0, pending = 0, routes = 0;
};
TableUsage usage(const Tables& t) noexcept;

}  // namespace espgw::tables

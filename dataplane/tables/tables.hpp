#pragma once
// The process handle on the shared tables: maps (create or attach) the named memzones
// and keeps this process's addresses of them. Exactly one object per process per table
// set. The primary (espgw-dp) create()s; any other DPDK process of the same
// --file-prefix (espgw-ike, tests) attach()es by name.
//
// Memory map (memzones "<name>.<part>", all reserved at create()):
//   hdr   Header: limits, writer lock, free-list tops, pending FIFO indices, SPD generation
//   in    InSlot[max_sas]      immutable inbound SAs (keys)      ins  InState[max_sas]
//   out   OutSlot[max_sas]     immutable outbound SAs (keys)     outs OutState[max_sas]
//   ids   IdEntry[max_ids]     SA id → slot
//   pol   PolicyRecord[max_policies]
//   rt    RouteRecord[max_routes]
//   wr    free stacks (2 × max_sas uint32) + Pending[2 × max_sas] (writer only)
//   rcu   rte_rcu_qsbr for `workers` readers
// plus the rte_hash "<name>.spi" (SPI → inbound slot, lock-free readers) and the
// rte_ring "<name>.ev" of Event (expiry events).
//
// The inbound index is keyed by SPI alone: espgw allocates its inbound SPIs itself
// (IKEv2), unique per gateway, and RFC 4301 §4.1 allows unicast SA lookup by SPI only.
//
// Multi-process caveats (DPDK's, documented here once): rte_hash keeps its hash
// function as a pointer, so every access in this library passes a precomputed
// signature (spi_sig) and never calls through that pointer; rte_acl and rte_fib
// objects are process-local (publish.hpp); --no-huge memory is not shared, so a
// secondary process needs the primary to run on hugepages.

#include <rte_hash_crc.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/tables/layout.hpp"

struct rte_hash;
struct rte_ring;
struct rte_rcu_qsbr;
struct rte_memzone;

namespace espgw::tables {

class Classifier;
class RouteTable;

class Tables {
public:
    /// Primary: reserves and initialises every memzone, the SPI hash and the event
    /// ring. Throws std::runtime_error (naming the part and rte_errno) when memory is
    /// short, a name is taken or the limits are invalid; nothing is left reserved then.
    /// Main lcore after rte_eal_init, before workers run.
    static std::unique_ptr<Tables> create(const std::string& name, const Limits& limits);

    /// Any DPDK process: finds the memzones, hash and ring of `name`. Throws
    /// std::runtime_error when a part is missing or the layout magic/version differs.
    static std::unique_ptr<Tables> attach(const std::string& name);

    /// The creator frees the memzones, hash and ring (no reader and no other process
    /// may use them any more); an attached process only forgets its addresses.
    ~Tables();
    Tables(const Tables&) = delete;
    Tables& operator=(const Tables&) = delete;

    /// A DPDK secondary process (espgw-ike, tools): rte_eal_init with
    /// --proc-type=secondary --file-prefix `file_prefix` --no-pci (plus `extra_eal`
    /// arguments), then attach(name). Once per process, before any other DPDK call;
    /// the primary must run on hugepages. Throws std::runtime_error when EAL init
    /// fails (no primary with that prefix) or attach() does.
    static std::unique_ptr<Tables> attach_secondary(const std::string& file_prefix, const std::string& name,
                                                    const std::vector<std::string>& extra_eal = {});

    const Limits& limits() const noexcept { return hdr->limits; }
    const std::string& name() const noexcept { return name_; }

    /// Owner worker of an inbound / outbound slot (the dp hands packets off to it).
    /// Any thread; `slot` must be a slot the caller holds under RCU.
    uint32_t owner_of(Direction dir, uint32_t slot) const noexcept {
        return dir == Direction::in ? in[slot].meta.owner : out[slot].meta.owner;
    }

    // --- process-local addresses of the shared parts (library internals) ---
    Header* hdr = nullptr;
    InSlot* in = nullptr;
    InState* ins = nullptr;
    OutSlot* out = nullptr;
    OutState* outs = nullptr;
    IdEntry* ids = nullptr;
    PolicyRecord* pol = nullptr;
    RouteRecord* rt = nullptr;
    uint32_t* in_free = nullptr;   ///< stack of free inbound slots
    uint32_t* out_free = nullptr;  ///< stack of free outbound slots
    Pending* pending = nullptr;    ///< FIFO of retired slots
    rte_rcu_qsbr* rcu = nullptr;
    rte_hash* spi_hash = nullptr;
    rte_ring* events = nullptr;

    // --- process-local lookup objects built by the primary (see publish.hpp) ---
    /// Current SPD classifier / route table: stored release by the control thread,
    /// loaded acquire by readers once per lookup; old ones are freed after an RCU
    /// grace period. nullptr until the first refresh().
    std::atomic<const Classifier*> classifier{nullptr};
    std::atomic<const RouteTable*> routes{nullptr};
    struct Local;
    std::unique_ptr<Local> local;  ///< retired objects, built generations

private:
    Tables();
    bool creator_ = false;
    std::string name_;
};

/// rte_hash signature of an SPI (host order): computed here, never through the
/// function pointer stored inside the shared rte_hash (invalid in other processes).
inline uint32_t spi_sig(const Tables& t, uint32_t spi_host) noexcept {
    return rte_hash_crc_4byte(spi_host, t.hdr->hash_seed);
}

/// Bytes of shared memory reserved per SA slot of one direction: immutable slot +
/// owner state + free-stack entry + reclaim-queue entry (the rte_hash entry of an
/// inbound SA and the 4-byte id entry per SA id come on top).
constexpr size_t bytes_per_sa(Direction d) noexcept {
    return d == Direction::in ? sizeof(InSlot) + sizeof(InState) + sizeof(uint32_t) + sizeof(Pending)
                              : sizeof(OutSlot) + sizeof(OutState) + sizeof(uint32_t) + sizeof(Pending);
}

}  // namespace espgw::tables

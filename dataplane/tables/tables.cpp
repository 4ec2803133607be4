// Tables: reserving (primary) or finding (secondary) the memzones of the shared tables.
#include "dataplane/tables/tables.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_memzone.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "dataplane/tables/publish.hpp"

namespace espgw::tables {

namespace {

struct Part {
    const char* suffix;
    size_t bytes;
};

std::string part_name(const std::string& name, const char* suffix) { return name + "." + suffix; }

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(fmt::format("tables: {}: {}", what, rte_strerror(rte_errno)));
}

std::vector<Part> parts_of(const Limits& l) {
    const size_t wr = 2 * size_t{l.max_sas} * sizeof(uint32_t);
    return {
        {"hdr", sizeof(Header)},
        {"in", size_t{l.max_sas} * sizeof(InSlot)},
        {"ins", size_t{l.max_sas} * sizeof(InState)},
        {"out", size_t{l.max_sas} * sizeof(OutSlot)},
        {"outs", size_t{l.max_sas} * sizeof(OutState)},
        {"ids", size_t{l.max_ids} * sizeof(IdEntry)},
        {"pol", size_t{l.max_policies} * sizeof(PolicyRecord)},
        {"rt", size_t{l.max_routes} * sizeof(RouteRecord)},
        {"wr", (wr + 63) / 64 * 64 + 2 * size_t{l.max_sas} * sizeof(Pending)},
        {"rcu", rte_rcu_qsbr_get_memsize(l.workers)},
    };
}

}  // namespace

Tables::Tables() : local(std::make_unique<Local>()) {}

static void bind_parts(Tables& t, const std::vector<const rte_memzone*>& mz, const Limits& l) {
    t.hdr = static_cast<Header*>(mz[0]->addr);
    t.in = static_cast<InSlot*>(mz[1]->addr);
    t.ins = static_cast<InState*>(mz[2]->addr);
    t.out = static_cast<OutSlot*>(mz[3]->addr);
    t.outs = static_cast<OutState*>(mz[4]->addr);
    t.ids = static_cast<IdEntry*>(mz[5]->addr);
    t.pol = static_cast<PolicyRecord*>(mz[6]->addr);
    t.rt = static_cast<RouteRecord*>(mz[7]->addr);
    auto* wr = static_cast<uint8_t*>(mz[8]->addr);
    t.in_free = reinterpret_cast<uint32_t*>(wr);
    t.out_free = t.in_free + l.max_sas;
    t.pending = reinterpret_cast<Pending*>(wr + (2 * size_t{l.max_sas} * sizeof(uint32_t) + 63) / 64 * 64);
    t.rcu = static_cast<rte_rcu_qsbr*>(mz[9]->addr);
}

std::unique_ptr<Tables> Tables::create(const std::string& name, const Limits& l) {
    if (name.empty() || name.size() > 20) throw std::runtime_error("tables: name must be 1..20 characters");
    if (l.max_sas == 0 || l.max_ids == 0 || l.max_policies == 0 || l.max_routes == 0 || l.workers == 0 ||
        l.workers > kMaxWorkers || l.max_ids > kIdOut ||
        !std::has_single_bit(l.event_ring_size) || l.max_sas > (1u << 24))
        throw std::runtime_error("tables: invalid limits");
    std::unique_ptr<Tables> t(new Tables());
    t->name_ = name;
    std::vector<const rte_memzone*> mz;
    // Until the end, `t` is not the creator: every failure path frees by hand.
    for (const Part& p : parts_of(l)) {
        const rte_memzone* z = rte_memzone_reserve_aligned(part_name(name, p.suffix).c_str(), p.bytes,
                                                           SOCKET_ID_ANY, 0, 64);
        if (z == nullptr) {
            for (const rte_memzone* r : mz) rte_memzone_free(r);
            fail(fmt::format("reserve {} ({} bytes)", part_name(name, p.suffix), p.bytes));
        }
        std::memset(z->addr, 0, p.bytes);
        mz.push_back(z);
    }
    bind_parts(*t, mz, l);

    Header* h = new (t->hdr) Header();
    h->limits = l;
    h->hash_seed = 0x5eed1e55u;
    rte_spinlock_init(&h->writer_lock);
    h->pending_cap = 2 * l.max_sas;
    for (uint32_t i = 0; i < l.max_sas; ++i) {
        new (&t->in[i]) InSlot();
        new (&t->ins[i]) InState();
        new (&t->out[i]) OutSlot();
        new (&t->outs[i]) OutState();
        // Stack with slot 0 on top: low slots are used first (warm cache lines).
        t->in_free[i] = l.max_sas - 1 - i;
        t->out_free[i] = l.max_sas - 1 - i;
    }
    h->in_free_top = h->out_free_top = l.max_sas;
    for (uint32_t i = 0; i < l.max_ids; ++i) new (&t->ids[i]) IdEntry();
    for (uint32_t i = 0; i < l.max_routes; ++i) new (&t->rt[i]) RouteRecord();
    if (rte_rcu_qsbr_init(t->rcu, l.workers) != 0) {
        for (const rte_memzone* r : mz) rte_memzone_free(r);
        fail("rte_rcu_qsbr_init");
    }

    const std::string hname = part_name(name, "spi");
    rte_hash_parameters hp{};
    hp.name = hname.c_str();
    hp.entries = l.max_sas;
    hp.key_len = sizeof(uint32_t);
    hp.hash_func = rte_hash_crc;  // only for DPDK's own use; we always pass spi_sig()
    hp.hash_func_init_val = h->hash_seed;
    hp.socket_id = SOCKET_ID_ANY;
    // Lock-free readers with one writer (the writer lock serialises writers of all
    // processes); the extendable table guarantees max_sas keys fit.
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    t->spi_hash = rte_hash_create(&hp);
    if (t->spi_hash == nullptr) {
        for (const rte_memzone* r : mz) rte_memzone_free(r);
        fail("rte_hash_create " + hname);
    }
    // Workers enqueue (multi-producer); one control process drains (single consumer).
    t->events = rte_ring_create_elem(part_name(name, "ev").c_str(), sizeof(Event), l.event_ring_size,
                                     SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (t->events == nullptr) {
        rte_hash_free(t->spi_hash);
        for (const rte_memzone* r : mz) rte_memzone_free(r);
        fail("rte_ring_create " + part_name(name, "ev"));
    }
    // Published last: an attacher that sees the magic sees an initialised table set.
    t->creator_ = true;
    h->version = kLayoutVersion;
    std::atomic_ref<uint64_t>(h->magic).store(kMagic, std::memory_order_release);
    t->creator_ = true;
    return t;
}

std::unique_ptr<Tables> Tables::attach(const std::string& name) {
    std::unique_ptr<Tables> t(new Tables());
    t->name_ = name;
    const rte_memzone* hz = rte_memzone_lookup(part_name(name, "hdr").c_str());
    if (hz == nullptr) fail("no memzone " + part_name(name, "hdr"));
    auto* h = static_cast<Header*>(hz->addr);
    if (std::atomic_ref<uint64_t>(h->magic).load(std::memory_order_acquire) != kMagic ||
        h->version != kLayoutVersion)
        throw std::runtime_error("tables: " + name + ": layout magic/version mismatch");
    std::vector<const rte_memzone*> mz;
    for (const Part& p : parts_of(h->limits)) {
        const rte_memzone* z = rte_memzone_lookup(part_name(name, p.suffix).c_str());
        if (z == nullptr || z->len < p.bytes) fail("no memzone " + part_name(name, p.suffix));
        mz.push_back(z);
    }
    bind_parts(*t, mz, h->limits);
    t->spi_hash = rte_hash_find_existing(part_name(name, "spi").c_str());
    if (t->spi_hash == nullptr) fail("no hash " + part_name(name, "spi"));
    t->events = rte_ring_lookup(part_name(name, "ev").c_str());
    if (t->events == nullptr) fail("no ring " + part_name(name, "ev"));
    return t;
}

std::unique_ptr<Tables> Tables::attach_secondary(const std::string& file_prefix, const std::string& name,
                                                 const std::vector<std::string>& extra_eal) {
    std::vector<std::string> args = {"espgw-tables", "--proc-type=secondary", "--no-pci", "--file-prefix", file_prefix};
    args.insert(args.end(), extra_eal.begin(), extra_eal.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // A primary that dropped root (espgw-dp --user) owns its runtime directory but not
    // what a root secondary creates there: its multi-process socket, to which the
    // primary must send replies. Create it writable for the owner of the (mode 0700)
    // directory, i.e. without the umask; nobody else can reach into that directory.
    struct stat st{};
    const bool foreign_primary = geteuid() == 0 && stat(("/var/run/dpdk/" + file_prefix).c_str(), &st) == 0 &&
                                 st.st_uid != 0;
    const mode_t old_mask = foreign_primary ? umask(0) : 0;
    const int rc = rte_eal_init(static_cast<int>(args.size()), argv.data());
    if (foreign_primary) umask(old_mask);
    if (rc < 0) fail("rte_eal_init (secondary, prefix " + file_prefix + ")");
    return attach(name);
}

Tables::~Tables() {
    release_published(*this);
    if (!creator_ || hdr == nullptr) return;
    const Limits l = hdr->limits;
    for (uint32_t i = 0; i < l.max_sas; ++i) {
        esp::sa_wipe(in[i].sa);
        esp::sa_wipe(out[i].sa);
    }
    rte_ring_free(events);
    rte_hash_free(spi_hash);
    for (const Part& p : parts_of(l)) {
        const rte_memzone* z = rte_memzone_lookup(part_name(name_, p.suffix).c_str());
        if (z != nullptr) rte_memzone_free(z);
    }
}

}  // namespace espgw::tables

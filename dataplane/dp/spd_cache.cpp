// SpdFlowCache storage (dataplane/dp/spd_cache.hpp): an anonymous mapping, so the
// cache needs no EAL (unit tests) and costs no DPDK heap; huge pages are advised so a
// multi-MiB table does not take a TLB miss per lookup.
#include "dataplane/dp/spd_cache.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace espgw::dp {

SpdFlowCache::SpdFlowCache(uint32_t entries) {
    if (entries < kMinEntries || entries > kMaxEntries || (entries & (entries - 1)) != 0)
        throw std::invalid_argument("SPD flow cache entries: a power of two in 1024..16777216");
    mask_ = entries / 2 - 1;
    void* p = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error("SPD flow cache: cannot map " + std::to_string(bytes() >> 20) +
                                 " MiB ([dataplane] spd_cache_entries): " + std::strerror(errno));
    madvise(p, bytes(), MADV_HUGEPAGE);  // best effort
    sets_ = static_cast<Set*>(p);
}

SpdFlowCache::~SpdFlowCache() {
    if (sets_) munmap(sets_, bytes());
}

void SpdFlowCache::wipe() noexcept { std::memset(sets_, 0, bytes()); }

}  // namespace espgw::dp

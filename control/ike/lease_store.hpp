#pragma once
// Persistence of the virtual-IP leases (issue 7: a restarted espgw-ike gives every
// user the address it had). The file holds one lease per line,
//   <pool> TAB <identity> TAB <a.b.c.d or an IPv6 address>
// and is replaced atomically: written to "<path>.tmp", fsync'ed, renamed over the old
// file, then the directory is fsync'ed, so a crash mid-write leaves the old file.
// Control thread only.

#include "control/ike/address_pool.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace espgw::ike {

struct Lease {
    std::string pool;
    std::string identity;
    PoolAddr addr = 0;   // an IPv4 address in the low 32 bits (address_pool.hpp)
    uint8_t family = 4;
};

/// Reads the lease file. A missing file is an empty list; malformed lines are skipped
/// (counted in `*skipped` when given). Never throws.
std::vector<Lease> load_leases(const std::string& path, size_t* skipped = nullptr);

/// Writes every lease of `pools` atomically (write, fsync, rename, fsync of the
/// directory). Identities with a tab or line break are left out (they cannot come from
/// a valid IKE identity we print). Returns false with `*error` set on failure; the old
/// file then stays.
bool save_leases(const std::string& path, const std::map<std::string, AddressPool>& pools, std::string* error);

/// Puts the loaded leases back into `pools` (unknown pools and conflicting leases are
/// skipped); returns how many were restored.
size_t restore_leases(const std::vector<Lease>& leases, std::map<std::string, AddressPool>& pools);

}  // namespace espgw::ike

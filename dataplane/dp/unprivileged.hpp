#pragma once
// espgw-dp without root (issue 7, "who gets in"): once EAL is up, the ports are started
// and the control socket is bound, nothing the dataplane does per packet or per CLI
// command needs root. `--user USER[:GROUP]` hands the process's DPDK shared files to
// that user and switches to it with no capability left, so a bug reachable from the
// network (ESP, UDP-4500, fragments, punted IKE) or the CLI cannot become root.
//
// What is handed over (chown to the new user and group, before the switch):
//   - the EAL runtime directory (/var/run/dpdk/PREFIX: config, fbarrays, mp socket), so
//     the multi-process channel keeps working: espgw-ike's dataplane agent (a secondary,
//     which stays root) attaches and asks the primary things over it;
//     its parent (/var/run/dpdk, 0700 as EAL makes it) gains search permission only;
//   - the hugepage files this process has mapped (PREFIXmap_N on a hugetlbfs mount).
// Memory is not grown at run time after the switch (a hugetlbfs directory stays
// root's): mbuf pools and tables are sized at start-up, as they already are.
// A secondary that attaches later makes its own mp socket in the runtime directory; the
// tables library creates it writable for the directory's owner (tables.cpp).

#include <string>

namespace espgw::dp {

/// Hands the DPDK files over to `spec` ("USER" or "USER:GROUP") and drops root. Returns
/// an empty string on success, else why not (unknown user, chown failure, a capability
/// left); the caller must then stop: running on as root when asked not to is refused.
std::string run_unprivileged(const std::string& spec);

}  // namespace espgw::dp

#pragma once
// Dropping root after start-up (issue 7, "who gets in"): once a daemon holds what only
// root can open (UDP ports 500/4500, the CLI socket, the DPDK shared memory of
// espgw-dp), it switches to an unprivileged user and group, keeping no capabilities,
// so a bug in the IKE or CLI parsers cannot be turned into root on the appliance.
//
// The caller passes the user name (and optionally a group; default: the user's primary
// group). Supplementary groups become the user's own (initgroups); the process is left
// non-dumpable (prctl PR_SET_DUMPABLE 0) so no core dump can hold key material.

#include <string>

namespace espgw {

struct PrivDropResult {
    bool ok = false;
    std::string error;  // why not: unknown user, setgid/setuid failed, capabilities left
    unsigned uid = 0, gid = 0;
};

/// The uid and gid of `user`[:`group`] (the group defaults to the user's primary
/// group); not ok for an unknown user or group, or for root.
PrivDropResult resolve_account(const std::string& user, const std::string& group = {});

/// Switches the whole process (every thread: glibc's setuid is process-wide) to
/// `user`[:`group`]. Must be called as root; a no-op error when not root.
/// Verifies afterwards that root cannot be regained and no capability is left.
PrivDropResult drop_privileges(const std::string& user, const std::string& group = {});

}  // namespace espgw

#include "control/common/privdrop.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace espgw {

namespace {

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

/// True when the calling thread's effective, permitted or inheritable sets are not empty.
bool any_capability_left() {
    __user_cap_header_struct hdr{};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (syscall(SYS_capget, &hdr, data) != 0) return true;  // cannot tell: assume the worst
    for (const auto& d : data)
        if (d.effective || d.permitted || d.inheritable) return true;
    return false;
}

}  // namespace

PrivDropResult resolve_account(const std::string& user, const std::string& group) {
    PrivDropResult r;
    // getpwnam_r with a growing buffer: no static storage shared with other callers.
    std::vector<char> buf(4096);
    passwd pw{};
    passwd* pwp = nullptr;
    while (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp) == ERANGE) buf.resize(buf.size() * 2);
    if (!pwp) {
        r.error = "unknown user '" + user + "'";
        return r;
    }
    r.uid = pw.pw_uid;
    r.gid = pw.pw_gid;
    if (!group.empty()) {
        std::vector<char> gbuf(4096);
        struct group gr{};
        struct group* grp = nullptr;
        while (getgrnam_r(group.c_str(), &gr, gbuf.data(), gbuf.size(), &grp) == ERANGE) gbuf.resize(gbuf.size() * 2);
        if (!grp) {
            r.error = "unknown group '" + group + "'";
            return r;
        }
        r.gid = grp->gr_gid;
    }
    if (r.uid == 0) {
        r.error = "user '" + user + "' is root";
        return r;
    }
    r.ok = true;
    return r;
}

PrivDropResult drop_privileges(const std::string& user, const std::string& group) {
    if (geteuid() != 0) {
        PrivDropResult r;
        r.error = "not running as root: nothing to drop";
        return r;
    }
    PrivDropResult r = resolve_account(user, group);
    if (!r.ok) return r;
    r.ok = false;
    // Order matters: groups first (needs root), then gid, then uid (after which root's
    // powers are gone). PR_SET_KEEPCAPS stays 0, so setuid clears every capability.
    if (initgroups(user.c_str(), r.gid) != 0) {
        r.error = errno_text("initgroups");
        return r;
    }
    if (setresgid(r.gid, r.gid, r.gid) != 0) {
        r.error = errno_text("setresgid");
        return r;
    }
    if (setresuid(r.uid, r.uid, r.uid) != 0) {
        r.error = errno_text("setresuid");
        return r;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        r.error = "root could be regained after setresuid";
        return r;
    }
    if (any_capability_left()) {
        r.error = "capabilities left after setresuid";
        return r;
    }
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    r.ok = true;
    return r;
}

}  // namespace espgw

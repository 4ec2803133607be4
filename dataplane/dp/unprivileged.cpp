#include "dataplane/dp/unprivileged.hpp"

#include <rte_eal.h>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "control/common/privdrop.hpp"

namespace espgw::dp {

namespace {

std::string chown_one(const std::string& path, unsigned uid, unsigned gid) {
    if (lchown(path.c_str(), uid, gid) != 0 && errno != ENOENT)
        return fmt::format("chown {}: {}", path, std::strerror(errno));
    return {};
}

/// The hugepage files this process maps: /proc/self/maps lines whose file lies on a
/// hugetlbfs mount (DPDK names them PREFIXmap_N; with --no-huge there are none).
std::set<std::string> mapped_hugepage_files() {
    std::set<std::string> mounts;
    {
        std::ifstream m("/proc/mounts");
        std::string dev, dir, type, rest;
        while (m >> dev >> dir >> type && std::getline(m, rest))
            if (type == "hugetlbfs") mounts.insert(dir + "/");
    }
    std::set<std::string> files;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        const auto slash = line.find('/');
        if (slash == std::string::npos) continue;
        std::string path = line.substr(slash);
        if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) continue;
        for (const std::string& m : mounts)
            if (path.rfind(m, 0) == 0) files.insert(path);
    }
    return files;
}

}  // namespace

std::string run_unprivileged(const std::string& spec) {
    const auto colon = spec.find(':');
    const std::string user = spec.substr(0, colon);
    const std::string group = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
    if (geteuid() != 0) return "not running as root: nothing to drop";
    const PrivDropResult acct = resolve_account(user, group);
    if (!acct.ok) return acct.error;

    // The runtime directory and everything in it (not recursive beyond one level: EAL
    // keeps its files flat there).
    const std::string rundir = rte_eal_get_runtime_dir();
    if (std::string e = chown_one(rundir, acct.uid, acct.gid); !e.empty()) return e;
    // EAL makes its parent (/var/run/dpdk) mode 0700: the new user must be able to
    // pass through it to reach its own directory. Search permission only; the parent
    // stays unlistable and the other applications' directories stay 0700.
    const std::string parent = std::filesystem::path(rundir).parent_path().string();
    struct stat pst{};
    if (stat(parent.c_str(), &pst) != 0) return fmt::format("stat {}: {}", parent, std::strerror(errno));
    if ((pst.st_mode & S_IXOTH) == 0 && chmod(parent.c_str(), (pst.st_mode & 07777) | S_IXGRP | S_IXOTH) != 0)
        return fmt::format("chmod {}: {}", parent, std::strerror(errno));
    std::error_code ec;
    for (const auto& ent : std::filesystem::directory_iterator(rundir, ec))
        if (std::string e = chown_one(ent.path().string(), acct.uid, acct.gid); !e.empty()) return e;
    if (ec) return fmt::format("listing {}: {}", rundir, ec.message());
    for (const std::string& f : mapped_hugepage_files())
        if (std::string e = chown_one(f, acct.uid, acct.gid); !e.empty()) return e;

    const PrivDropResult r = drop_privileges(user, group);
    if (!r.ok) return r.error;
    return {};
}

}  // namespace espgw::dp

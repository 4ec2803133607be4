#include "control/ike/lease_store.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace espgw::ike {

std::vector<Lease> load_leases(const std::string& path, size_t* skipped) {
    std::vector<Lease> out;
    std::ifstream in(path);
    std::string line;
    size_t bad = 0;
    while (in && std::getline(in, line)) {
        if (line.empty()) continue;
        const size_t t1 = line.find('\t');
        const size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
        in_addr a{};
        if (t2 == std::string::npos || t1 == 0 || t2 == t1 + 1 ||
            inet_pton(AF_INET, line.substr(t2 + 1).c_str(), &a) != 1) {
            ++bad;
            continue;
        }
        out.push_back({line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), ntohl(a.s_addr)});
    }
    if (skipped) *skipped = bad;
    return out;
}

namespace {
bool fail(std::string* error, const std::string& what) {
    if (error) *error = what + ": " + std::strerror(errno);
    return false;
}
}  // namespace

bool save_leases(const std::string& path, const std::map<std::string, AddressPool>& pools, std::string* error) {
    std::ostringstream text;
    for (const auto& [name, pool] : pools)
        for (const auto& [id, addr] : pool.leases())
            if (id.find_first_of("\t\r\n") == std::string::npos && name.find_first_of("\t\r\n") == std::string::npos)
                text << name << '\t' << id << '\t' << ipv4_to_string(addr) << '\n';
    const std::string data = text.str();
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return fail(error, tmp);
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            const bool r = fail(error, tmp);
            ::close(fd);
            ::unlink(tmp.c_str());
            return r;
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const bool r = fail(error, tmp);
        ::close(fd);
        ::unlink(tmp.c_str());
        return r;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const bool r = fail(error, path);
        ::unlink(tmp.c_str());
        return r;
    }
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);  // the rename itself is durable
        ::close(dfd);
    }
    return true;
}

size_t restore_leases(const std::vector<Lease>& leases, std::map<std::string, AddressPool>& pools) {
    size_t n = 0;
    for (const auto& l : leases) {
        auto it = pools.find(l.pool);
        if (it != pools.end() && it->second.restore(l.identity, l.addr_host)) ++n;
    }
    return n;
}

}  // namespace espgw::ike

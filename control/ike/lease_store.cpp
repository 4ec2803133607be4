#include "control/ike/lease_store.hpp"

#include "control/common/atomic_file.hpp"

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
        const auto a = t2 == std::string::npos ? std::nullopt : parse_pool_addr(line.substr(t2 + 1));
        if (t2 == std::string::npos || t1 == 0 || t2 == t1 + 1 || !a) {
            ++bad;
            continue;
        }
        out.push_back({line.substr(0, t1), line.substr(t1 + 1, t2 - t1 - 1), a->second, a->first});
    }
    if (skipped) *skipped = bad;
    return out;
}

bool save_leases(const std::string& path, const std::map<std::string, AddressPool>& pools, std::string* error) {
    std::ostringstream text;
    for (const auto& [name, pool] : pools)
        for (const auto& [id, addr] : pool.leases())
            if (id.find_first_of("\t\r\n") == std::string::npos && name.find_first_of("\t\r\n") == std::string::npos)
                text << name << '\t' << id << '\t' << pool.to_string(addr) << '\n';
    return write_file_atomic(path, text.str(), 0600, error);
}

size_t restore_leases(const std::vector<Lease>& leases, std::map<std::string, AddressPool>& pools) {
    size_t n = 0;
    for (const auto& l : leases) {
        auto it = pools.find(l.pool);
        if (it != pools.end() && it->second.family() == l.family && it->second.restore(l.identity, l.addr)) ++n;
    }
    return n;
}

}  // namespace espgw::ike

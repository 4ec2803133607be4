#include "control/ike/address_pool.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace espgw::ike {

AddressPool::AddressPool(std::string name, std::string_view cidr) : name_(std::move(name)) {
    const std::string s(cidr);
    in_addr a{};
    // A range "10.99.0.10-10.99.0.99" (both ends assignable), or a CIDR whose network
    // and broadcast addresses are left out.
    if (const size_t dash = s.find('-'); dash != std::string::npos) {
        in_addr b{};
        if (inet_pton(AF_INET, s.substr(0, dash).c_str(), &a) != 1 ||
            inet_pton(AF_INET, s.substr(dash + 1).c_str(), &b) != 1)
            throw std::invalid_argument("pool '" + name_ + "': bad IPv4 range '" + s + "'");
        first_ = ntohl(a.s_addr);
        last_ = ntohl(b.s_addr);
        if (first_ == 0 || last_ < first_)
            throw std::invalid_argument("pool '" + name_ + "': range '" + s + "' is empty or starts at 0.0.0.0");
        if (last_ - first_ >= (1u << 24))
            throw std::invalid_argument("pool '" + name_ + "': range '" + s + "' is larger than a /8");
        return;
    }
    const size_t slash = s.find('/');
    if (slash == std::string::npos || inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1)
        throw std::invalid_argument("pool '" + name_ + "': bad IPv4 CIDR or range '" + s + "'");
    unsigned prefix = 0;
    try {
        prefix = static_cast<unsigned>(std::stoul(s.substr(slash + 1)));
    } catch (const std::exception&) {
        throw std::invalid_argument("pool '" + name_ + "': bad prefix in '" + s + "'");
    }
    if (prefix > 30) throw std::invalid_argument("pool '" + name_ + "': prefix longer than /30");
    if (prefix < 8) throw std::invalid_argument("pool '" + name_ + "': prefix shorter than /8");
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    const uint32_t net = ntohl(a.s_addr) & mask;
    first_ = net + 1;
    last_ = (net | ~mask) - 1;
}

std::optional<uint32_t> AddressPool::acquire(const std::string& identity) {
    if (auto it = leases_.find(identity); it != leases_.end()) return it->second;
    for (uint32_t a = first_; a <= last_ && a != 0; ++a) {
        if (used_.count(a)) continue;
        used_.insert(a);
        leases_[identity] = a;
        ++generation_;
        return a;
    }
    return std::nullopt;
}

void AddressPool::release(const std::string& identity) {
    auto it = leases_.find(identity);
    if (it == leases_.end()) return;
    used_.erase(it->second);
    leases_.erase(it);
    ++generation_;
}

bool AddressPool::restore(const std::string& identity, uint32_t addr_host) {
    if (addr_host < first_ || addr_host > last_ || used_.count(addr_host) || leases_.count(identity)) return false;
    used_.insert(addr_host);
    leases_[identity] = addr_host;
    ++generation_;
    return true;
}

std::string ipv4_to_string(uint32_t addr_host) {
    in_addr a{htonl(addr_host)};
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

}  // namespace espgw::ike

#include "control/ike/address_pool.hpp"

#include <arpa/inet.h>

#include <stdexcept>

namespace espgw::ike {

namespace {

unsigned parse_prefix(const std::string& name, const std::string& s, size_t slash) {
    try {
        size_t used = 0;
        const unsigned long p = std::stoul(s.substr(slash + 1), &used);
        if (used == s.size() - slash - 1 && p <= 128) return static_cast<unsigned>(p);
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("pool '" + name + "': bad prefix in '" + s + "'");
}

}  // namespace

Ip6 ip6_from_pool(PoolAddr a) noexcept {
    Ip6 b{};
    for (int i = 15; i >= 0; --i, a >>= 8) b[static_cast<size_t>(i)] = static_cast<uint8_t>(a);
    return b;
}

PoolAddr pool_from_ip6(const Ip6& a) noexcept {
    PoolAddr v = 0;
    for (uint8_t x : a) v = v << 8 | x;
    return v;
}

std::optional<std::pair<uint8_t, PoolAddr>> parse_pool_addr(const std::string& text) {
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) == 1)
        return std::pair<uint8_t, PoolAddr>{4, ntohl(a.s_addr)};
    Ip6 b{};
    if (inet_pton(AF_INET6, text.c_str(), b.data()) == 1)
        return std::pair<uint8_t, PoolAddr>{6, pool_from_ip6(b)};
    return std::nullopt;
}

AddressPool::AddressPool(std::string name, std::string_view cidr) : name_(std::move(name)) {
    const std::string s(cidr);
    family_ = s.find(':') == std::string::npos ? 4 : 6;
    const char* fam = family_ == 4 ? "IPv4" : "IPv6";
    // A range "10.99.0.10-10.99.0.99" (both ends assignable), or a CIDR whose network
    // address (and for IPv4 the broadcast address) is left out.
    if (const size_t dash = s.find('-'); dash != std::string::npos) {
        const auto a = parse_pool_addr(s.substr(0, dash));
        const auto b = parse_pool_addr(s.substr(dash + 1));
        if (!a || !b || a->first != family_ || b->first != family_)
            throw std::invalid_argument("pool '" + name_ + "': bad " + fam + " range '" + s + "'");
        first_ = a->second;
        last_ = b->second;
        if (first_ == 0 || last_ < first_)
            throw std::invalid_argument("pool '" + name_ + "': range '" + s +
                                        "' is empty or starts at the zero address");
        if (last_ - first_ >= (PoolAddr{1} << 24))
            throw std::invalid_argument("pool '" + name_ + "': range '" + s +
                                        "' is larger than 2^24 addresses");
        return;
    }
    const size_t slash = s.find('/');
    const auto net =
        slash == std::string::npos ? std::nullopt : parse_pool_addr(s.substr(0, slash));
    if (!net || net->first != family_)
        throw std::invalid_argument("pool '" + name_ + "': bad " + std::string(fam) +
                                    " CIDR or range '" + s + "'");
    const unsigned prefix = parse_prefix(name_, s, slash);
    const unsigned bits = family_ == 4 ? 32 : 128;
    const unsigned longest = family_ == 4 ? 30 : 126, shortest = family_ == 4 ? 8 : 64;
    if (prefix > longest)
        throw std::invalid_argument("pool '" + name_ + "': prefix longer than /" +
                                    std::to_string(longest));
    if (prefix < shortest)
        throw std::invalid_argument("pool '" + name_ + "': prefix shorter than /" +
                                    std::to_string(shortest));
    const PoolAddr host = (PoolAddr{1} << (bits - prefix)) - 1;
    const PoolAddr base =
        net->second & ~host & (family_ == 4 ? PoolAddr{0xffffffffu} : ~PoolAddr{0});
    first_ = base + 1;
    // IPv4 leaves the broadcast address out; IPv6 has none (RFC 4291 §2.6.1 reserves only
    // the subnet-router anycast address, the first, which is skipped above).
    last_ = family_ == 4 ? (base | host) - 1 : (base | host);
}

std::optional<PoolAddr> AddressPool::acquire(const std::string& identity) {
    if (auto it = leases_.find(identity); it != leases_.end()) return it->second;
    // First fit above the used addresses in order: leases are few compared with the
    // range, so walk the used set rather than the (possibly 2^64) range.
    PoolAddr a = first_;
    for (auto it = used_.lower_bound(first_); it != used_.end() && *it == a; ++it) {
        if (a == last_) return std::nullopt;
        ++a;
    }
    if (a > last_) return std::nullopt;
    used_.insert(a);
    leases_[identity] = a;
    ++generation_;
    return a;
}

void AddressPool::release(const std::string& identity) {
    auto it = leases_.find(identity);
    if (it == leases_.end()) return;
    used_.erase(it->second);
    leases_.erase(it);
    ++generation_;
}

bool AddressPool::restore(const std::string& identity, PoolAddr addr) {
    if (addr < first_ || addr > last_ || used_.count(addr) || leases_.count(identity)) return false;
    used_.insert(addr);
    leases_[identity] = addr;
    ++generation_;
    return true;
}

std::string AddressPool::pool_addr_to_string(PoolAddr a, uint8_t family) {
    return family == 6 ? ipv6_to_string(ip6_from_pool(a))
                       : ipv4_to_string(static_cast<uint32_t>(a));
}

std::string ipv4_to_string(uint32_t addr_host) {
    in_addr a{htonl(addr_host)};
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

std::string ipv6_to_string(const Ip6& addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
    return buf;
}

}  // namespace espgw::ike

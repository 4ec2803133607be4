#pragma once
// Virtual IPv4 and IPv6 address pools for remote-access peers (RFC 7296 §3.15 CP).
// Leases are kept per identity so a reconnecting peer gets its address back. Control
// thread only.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace espgw::ike {

/// A pool address as a host-order number: an IPv4 address in the low 32 bits
/// (0x0a630001 = 10.99.0.1), or an IPv6 address as a 128-bit number. Pools count with
/// it; the family comes from the pool.
using PoolAddr = unsigned __int128;
/// An IPv6 address in network order (INTERNAL_IP6_ADDRESS, traffic selectors).
using Ip6 = std::array<uint8_t, 16>;

class AddressPool {
  public:
    /// IPv4: `cidr` like "10.99.0.0/24" (hands out .1 to the last-but-one address,
    /// prefix /8../30) or a range "10.99.0.10-10.99.0.99" (both ends included, at most a
    /// /8's worth). IPv6: "fd00:99::/112" (hands out ::1 up to the last address, prefix
    /// /64../126) or a range "fd00:99::10-fd00:99::ff". Throws std::invalid_argument for
    /// bad text, a prefix outside those bounds or an empty range.
    AddressPool(std::string name, std::string_view cidr);
    const std::string& name() const noexcept { return name_; }
    /// 4 or 6.
    uint8_t family() const noexcept { return family_; }
    /// The address leased to `identity`, reusing its previous lease; nullopt when the
    /// pool is exhausted.
    std::optional<PoolAddr> acquire(const std::string& identity);
    /// Frees the identity's lease (no-op when it has none).
    void release(const std::string& identity);
    size_t leased() const noexcept { return leases_.size(); }
    /// Current leases by identity, for the CLI and the lease file.
    const std::map<std::string, PoolAddr>& leases() const noexcept { return leases_; }
    /// Incremented by every change of the leases (acquire of a new one, release,
    /// restore): the lease file is rewritten when it moves.
    uint64_t generation() const noexcept { return generation_; }
    /// Re-creates a lease read from the lease file. False (nothing changes) when the
    /// address lies outside the pool or is leased to another identity, or the identity
    /// already holds one.
    bool restore(const std::string& identity, PoolAddr addr);
    /// The pool's first and last assignable addresses.
    PoolAddr first() const noexcept { return first_; }
    PoolAddr last() const noexcept { return last_; }
    /// Text form of one of this pool's addresses ("10.99.0.1", "fd00:99::1").
    std::string to_string(PoolAddr a) const { return pool_addr_to_string(a, family_); }
    static std::string pool_addr_to_string(PoolAddr a, uint8_t family);

  private:
    std::string name_;
    uint8_t family_ = 4;
    PoolAddr first_ = 0, last_ = 0;
    std::map<std::string, PoolAddr> leases_;
    std::set<PoolAddr> used_;
    uint64_t generation_ = 0;
};

/// "a.b.c.d" from a host-order IPv4 address.
std::string ipv4_to_string(uint32_t addr_host);
/// RFC 5952 text of an IPv6 address.
std::string ipv6_to_string(const Ip6& addr);
/// Network-order bytes of a 128-bit pool address, and back.
Ip6 ip6_from_pool(PoolAddr a) noexcept;
PoolAddr pool_from_ip6(const Ip6& a) noexcept;
/// Parses an IPv4 or IPv6 address into (family, PoolAddr); nullopt for anything else.
std::optional<std::pair<uint8_t, PoolAddr>> parse_pool_addr(const std::string& text);

}  // namespace espgw::ike

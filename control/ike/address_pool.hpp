#pragma once
// Virtual IPv4 address pool for remote-access peers (RFC 7296 §3.15 CP). Leases are
// kept per identity so a reconnecting peer gets its address back. Control thread only.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace espgw::ike {

class AddressPool {
public:
    /// `cidr` like "10.99.0.0/24" (hands out .1 to the last-but-one address) or a range
    /// "10.99.0.10-10.99.0.99" (both ends included). Throws std::invalid_argument for bad
    /// text, a prefix outside /8../30 or an empty range.
    AddressPool(std::string name, std::string_view cidr);
    const std::string& name() const noexcept { return name_; }
    /// The address leased to `identity` (host byte order), reusing its previous lease;
    /// nullopt when the pool is exhausted.
    std::optional<uint32_t> acquire(const std::string& identity);
    /// Frees the identity's lease (no-op when it has none).
    void release(const std::string& identity);
    size_t leased() const noexcept { return leases_.size(); }
    /// Current leases by identity (host byte order), for the CLI and the lease file.
    const std::map<std::string, uint32_t>& leases() const noexcept { return leases_; }
    /// Incremented by every change of the leases (acquire of a new one, release,
    /// restore): the lease file is rewritten when it moves.
    uint64_t generation() const noexcept { return generation_; }
    /// Re-creates a lease read from the lease file. False (nothing changes) when the
    /// address lies outside the pool or is leased to another identity, or the identity
    /// already holds one.
    bool restore(const std::string& identity, uint32_t addr_host);
    /// The pool's first and last assignable addresses (host byte order).
    uint32_t first() const noexcept { return first_; }
    uint32_t last() const noexcept { return last_; }

private:
    std::string name_;
    uint32_t first_ = 0, last_ = 0;
    std::map<std::string, uint32_t> leases_;
    std::set<uint32_t> used_;
    uint64_t generation_ = 0;
};

/// "a.b.c.d" from a host-order IPv4 address.
std::string ipv4_to_string(uint32_t addr_host);

}  // namespace espgw::ike

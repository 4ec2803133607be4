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
    /// `cidr` like "10.99.0.0/24": hands out .1 to the last-but-one address. Throws
    /// std::invalid_argument for bad text or a prefix longer than /30.
    AddressPool(std::string name, std::string_view cidr);
    const std::string& name() const noexcept { return name_; }
    /// The address leased to `identity` (host byte order), reusing its previous lease;
    /// nullopt when the pool is exhausted.
    std::optional<uint32_t> acquire(const std::string& identity);
    /// Frees the identity's lease (no-op when it has none).
    void release(const std::string& identity);
    size_t leased() const noexcept { return leases_.size(); }

private:
    std::string name_;
    uint32_t first_ = 0, last_ = 0;
    std::map<std::string, uint32_t> leases_;
    std::set<uint32_t> used_;
};

/// "a.b.c.d" from a host-order IPv4 address.
std::string ipv4_to_string(uint32_t addr_host);

}  // namespace espgw::ike

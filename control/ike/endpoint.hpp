#pragma once
// A UDP endpoint (IPv4 for now) as seen by the IKE transport.

#include <cstdint>
#include <string>

namespace espgw::ike {

struct Endpoint {
    uint32_t addr_host = 0;  // IPv4, host byte order
    uint16_t port = 0;       // host byte order
    bool operator==(const Endpoint&) const = default;
    auto operator<=>(const Endpoint&) const = default;
};

/// "192.0.2.1[4500]" (strongSwan's notation), for logs.
std::string to_string(const Endpoint& e);

}  // namespace espgw::ike

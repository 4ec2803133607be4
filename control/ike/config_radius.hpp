#pragma once
// The [radius] table of espgw-ike's configuration (issue 6: EAP-RADIUS and
// accounting):
//
//   [radius]
//   servers = [ { address = "10.0.0.5", port = 1812, acct_port = 1813, secret = "..." }, ... ]
//   timeout_s = 15          # per server and request (MFA push approvals take time)
//   retries = 2             # retransmissions per server within timeout_s
//   nas_identifier = "espgw" # default NAS-Identifier; connections may set their own
//   accounting = true       # RFC 2866 Start / Interim-Update / Stop
//   interim_s = 600         # Interim-Update interval; 0: none
//
// Errors throw std::invalid_argument naming the key ("radius.servers[1].secret: ...");
// they never echo a secret.

#include "control/radius/client.hpp"

#include <cstdint>
#include <string>

// toml++ 3 (the version meson requires) keeps its types in the inline namespace v3.
namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace espgw::ike {

struct RadiusConfig {
    radius::ClientConfig client;         // servers (with their secrets), timeout, retries
    std::string nas_identifier = "espgw";
    bool accounting = true;
    uint32_t interim_s = 600;
};

/// Parses the [radius] table. Throws std::invalid_argument("radius.KEY: why").
RadiusConfig parse_radius_config(const toml::table& t);

}  // namespace espgw::ike

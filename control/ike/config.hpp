#pragma once
// espgw-ike configuration (TOML, see config/espgw-ike.example.toml). Loading
// validates everything and throws std::invalid_argument naming the key path; a
// loaded IkeConfig is immutable.

#include "control/ike/algorithms.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/message.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace espgw::ike {

struct PoolConfig {
    std::string name;
    std::string cidr;
    std::vector<uint32_t> dns4;  // host byte order
};

struct ConnectionConfig {
    std::string name;
    Identity local_id;
    Identity remote_id;
    std::shared_ptr<crypto::SecretBytes> psk;
    std::vector<Algorithms> ike_proposals;  // strongest first
    std::vector<Algorithms> esp_proposals;
    std::vector<TrafficSelector> local_ts;
    std::vector<TrafficSelector> remote_ts;  // empty: the peer's virtual IP (or its TSi)
    std::string pool;                         // empty: no CP reply
};

struct IkeConfig {
    std::string listen_addr = "0.0.0.0";
    uint16_t port = 500;
    uint16_t natt_port = 4500;
    std::string sa_output;  // JSON-lines file the logging SaSink appends to; empty: none
    std::vector<ConnectionConfig> connections;
    std::map<std::string, PoolConfig> pools;
};

/// Parses TOML text. Throws std::invalid_argument("connections[0].psk: ...") style errors.
IkeConfig parse_config(std::string_view toml_text);
/// Reads and parses a file; also throws for an unreadable file.
IkeConfig load_config(const std::string& path);

}  // namespace espgw::ike

#pragma once
// [nat] and [[masquerade]] of the espgw-dp TOML configuration. Pure code (toml++),
// control path.
//
// [nat]
// max_sessions = 1048576          (all workers together; memory: kBytesPerSession each)
// ports = "1024-65535"            (public ports / ICMP identifiers handed out)
// expire_budget = 256             (sessions examined per worker poll)
// tcp_syn_timeout = 120  tcp_established_timeout = 7440  tcp_closing_timeout = 240
// tcp_closed_timeout = 10  udp_timeout = 300  icmp_timeout = 60      (seconds)
// tcp_mss = 1360                  (SYN MSS clamp through the NAT; 0 = off)
// [[masquerade]]
// source = "10.20.0.0/16"  port = "outside"  address = "198.51.100.1" (default: the
// port's first IPv4 address)

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "dataplane/nat/masquerade.hpp"

namespace espgw::dp {
struct PortConfig;
}

namespace espgw::nat {

/// Parses [nat] and [[masquerade]]; port names resolve against `ports` (parsed
/// before). Throws dp::ConfigError "masquerade[0].port: ..." on a bad key or value.
NatConfig parse_nat_config(const toml::table& root, const std::vector<dp::PortConfig>& ports, uint16_t nat_t_port);

}  // namespace espgw::nat

#pragma once
// [pools.NAME] keys beyond cidr/dns: the CP attributes a remote-access client receives
// (RFC 7296 §3.15.1, RFC 8598) and static per-identity addresses. Part of
// parse_config; throws std::invalid_argument naming the key path.
//
//   [pools.rw]
//   cidr = "10.99.0.0/24"
//   nbns = ["10.1.0.3"]                       # INTERNAL_IP4_NBNS (WINS)
//   dns_domain = "corp.example"               # INTERNAL_DNS_DOMAIN (or a list)
//   split_include = ["10.0.0.0/8"]            # INTERNAL_IP4_SUBNET; local TS narrowed
//   groups = ["staff"]                        # issue 6: only users of these groups
//   [pools.rw.static]
//   "alice@example.com" = "10.99.1.5"         # outside the pool's range
//   [pools.rw6]
//   cidr = "fd00:99::/112"                    # an IPv6 pool: INTERNAL_IP6_ADDRESS
//   dns = ["fd00:78::53"]                     # INTERNAL_IP6_DNS

#include "control/ike/config.hpp"

#include <toml++/toml.h>

#include <string>

namespace espgw::ike {

/// Reads nbns, dns_domain, groups, split_include and the static table of the pool table `t`
/// (at `path`, "pools.rw") into `p`, whose cidr is already set and valid.
void parse_pool_options(const toml::table& t, const std::string& path, PoolConfig& p);

}  // namespace espgw::ike

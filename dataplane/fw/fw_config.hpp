#pragma once
// [firewall] / [[firewall.rule]] of the espgw-dp TOML configuration (documented in
// config/espgw-dp.example.toml by its owner; keys listed in fw_config.cpp). Pure code
// (toml++), control path.

#include <string_view>

#include <toml++/toml.h>

#include "dataplane/fw/rules.hpp"

namespace espgw::fw {

/// Parses the firewall part of `root` (absent: disabled, everything allowed). Throws
/// dp::ConfigError "firewall.rule[2].ports: ..." on a bad key or value.
FirewallConfig parse_firewall_config(const toml::table& root);

/// Parses a whole TOML document and returns its firewall part (for a rule reload).
/// Throws dp::ConfigError.
FirewallConfig parse_firewall_text(std::string_view toml_text);

}  // namespace espgw::fw

#pragma once
// The espgw-dp appliance configuration: a TOML file (toml++) parsed into validated
// value types. Pure code, no EAL: unit-tested in test/dp/dp_config_test.cpp.
// config/espgw-dp.example.toml documents every key.

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/algorithm.hpp"
#include "dataplane/esp/sa.hpp"
#include "dataplane/fw/rules.hpp"
#include "dataplane/nat/masquerade.hpp"
#include "dataplane/net/ip.hpp"

namespace espgw::dp {

/// A refused configuration. what() is "<key path>: <problem>", e.g.
/// "port[1].mtu: 99999 is out of range 576..9216".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An address with a prefix length ("10.0.0.1/24", "fd00::/64").
struct Prefix {
    net::IpAddr addr;
    uint8_t len = 0;  ///< 0..32 (IPv4) or 0..128 (IPv6)

    /// True when `a` (same family) lies inside this prefix.
    bool contains(const net::IpAddr& a) const noexcept;
    std::string to_string() const;
};

using MacAddr = std::array<uint8_t, 6>;

enum class PortRole : uint8_t { outside, inside };

/// [dataplane] idle: what a worker does after idle_polls empty polls.
enum class IdleMode : uint8_t {
    off,        ///< keep polling (benchmarks, dedicated cores)
    sleep,      ///< nanosleep, doubling up to idle_max_sleep_us
    interrupt,  ///< wait for an RX interrupt (ports whose PMD has none: sleep)
};

/// [dataplane]
struct DataplaneConfig {
    uint32_t workers = 1;            ///< worker lcores (1..64); lcore 0 is the main lcore
    std::vector<uint32_t> lcores;    ///< explicit worker lcore ids (empty: 1..workers)
    uint32_t burst = 32;             ///< RX/TX burst size, 1..256
    bool idle_backoff = true;        ///< sleep after idle_polls empty polls
    IdleMode idle = IdleMode::sleep;  ///< `idle = "off"|"sleep"|"interrupt"`; default from idle_backoff
    uint32_t idle_polls = 256;       ///< empty polls before the first sleep, 1..1e6
    uint32_t idle_max_sleep_us = 1000;  ///< longest single sleep, 1..100000 us
    uint32_t mbufs = 8191;           ///< mbuf pool size (per socket), 1023..1048575
    uint32_t memory_mb = 256;        ///< EAL -m when running without hugepages
    std::string hugepages = "auto";  ///< "auto" (use when mounted), "on", "off"
    uint16_t nat_t_port = net::kPortNatT;  ///< local UDP port of ESP-in-UDP / IKE NAT-T
    uint32_t punt_ring_size = 1024;  ///< punt and inject ring size (power of 2)
    uint32_t max_sas = 4096;         ///< shared SA table slots per direction, 16..1048576
    uint32_t max_policies = 1024;    ///< shared SPD entries, 16..1048576
    uint32_t max_routes = 1024;      ///< shared route records (IPv4 + IPv6), 16..1048576
    uint32_t spd_cache_entries = 1u << 18;  ///< per-worker SPD flow cache (32 B each; holds 1.5× as many flows), power of 2, 1024..16777216
    std::string control_group = "root";  ///< group owning the control socket (mode 0660)
};

/// [[port]]
struct PortConfig {
    std::string name;
    PortRole role = PortRole::inside;
    std::string device;  ///< PCI address ("0000:03:00.0") or a vdev ("net_af_packet0,iface=veth0")
    bool is_pci = false;  ///< device looks like a PCI address
    std::vector<Prefix> addresses;  ///< our addresses on this port (IPv4 and/or IPv6)
    uint32_t mtu = 1500;  ///< IP MTU, 576..9216
    uint16_t queues = 1;  ///< RX/TX queue pairs, 1..16 (RSS across them)
    std::optional<MacAddr> mac;  ///< override the port's MAC
};

/// [[route]]
struct RouteConfig {
    Prefix prefix;
    std::optional<net::IpAddr> via;  ///< next hop; absent: directly connected
    uint32_t port = 0;               ///< index into Config::ports
};

/// [[neighbor]]
struct NeighborConfig {
    net::IpAddr addr;
    MacAddr mac{};
    uint32_t port = 0;  ///< index into Config::ports
};

enum class SaDirection : uint8_t { in, out };

/// [[sa]] a static SA.
struct SaEntry {
    uint32_t id = 0;  ///< config-local id referenced by policies
    SaDirection direction = SaDirection::out;
    std::string suite_name;
    esp::SaConfig sa;               ///< spi, suite, mode, esn, udp encap, tunnel, window
    std::vector<uint8_t> enc_keymat;  ///< key || salt (AEAD/GMAC) or cipher key (CBC)
    std::vector<uint8_t> auth_key;    ///< HMAC key; empty for AEAD
    uint64_t soft_bytes = 0, hard_bytes = 0;      ///< 0 = no limit
    uint64_t soft_packets = 0, hard_packets = 0;  ///< 0 = no limit
    std::vector<std::string> groups;  ///< firewall tags (user groups), see fw::Rule
    std::string connection;           ///< firewall tag (IKE connection name)
};

enum class PolicyAction : uint8_t { protect, bypass, discard };

/// [[policy]] an outbound SPD entry (RFC 4301 §4.4.1); first match by priority
/// (lower number wins). Traffic arriving through an inbound SA is checked against
/// the mirror image of the protect policies naming its paired SA.
struct PolicyConfig {
    uint32_t priority = 100;
    Prefix src;  ///< default 0.0.0.0/0 (family taken from dst when only one is given)
    Prefix dst;
    uint8_t proto = 0;  ///< 0 = any
    uint16_t src_port_lo = 0, src_port_hi = 65535;
    uint16_t dst_port_lo = 0, dst_port_hi = 65535;
    PolicyAction action = PolicyAction::bypass;
    uint32_t sa_id = 0;        ///< protect: the outbound SA's id
    uint32_t sa_index = 0;     ///< protect: index into Config::sas
};

struct Config {
    DataplaneConfig dataplane;
    std::vector<PortConfig> ports;
    std::vector<RouteConfig> routes;
    std::vector<NeighborConfig> neighbors;
    std::vector<SaEntry> sas;
    std::vector<PolicyConfig> policies;  ///< sorted by priority (stable)
    nat::NatConfig nat;                  ///< [nat], [[masquerade]] (dataplane/nat/nat_config.hpp)
    fw::FirewallConfig firewall;         ///< [firewall] (dataplane/fw/fw_config.hpp)
};

/// Parses and validates a TOML document. Throws ConfigError naming the key path
/// and the problem (syntax errors carry line:column). Control path, any thread.
Config parse_config(std::string_view toml_text);

/// One [[sa]] table given as TOML key = value lines (espctl `sa add`): the same keys
/// and checks as the config file, errors named "sa.<key>: ...". Uniqueness of id/SPI
/// is the tables' job (install_sa). Never echoes a value. Control path, any thread.
SaEntry parse_sa_entry(std::string_view toml_text, const DataplaneConfig& dpc);

/// One [[policy]] table (espctl `policy add`); errors "policy.<key>: ...". A protect
/// policy may name any SA id (installed or not; the tables allow it).
PolicyConfig parse_policy_entry(std::string_view toml_text);

/// One [[route]] table (espctl `route add`); `port` names one of cfg.ports.
RouteConfig parse_route_entry(std::string_view toml_text, const Config& cfg);

/// Turns espctl arguments "key=value" into TOML key = value lines: true/false and
/// decimal numbers stay bare, 0x-hex numbers become TOML hex integers (except for
/// `keymat`, always a string), everything else is quoted. Throws ConfigError naming
/// `what` and the argument position or key (never the value) for an argument without
/// '=', a bad key, a key given twice, or a value with a quote, backslash or control
/// character. Pure; any thread.
std::string key_values_to_toml(const std::vector<std::string>& args, std::string_view what);

/// Reads `path` and parses it; ConfigError also when the file cannot be read.
Config load_config(const std::string& path);

/// Parses "a.b.c.d/n" or "x::y/n" (a bare address means a host prefix). nullopt on
/// bad text or a length beyond the family. Any thread.
std::optional<Prefix> parse_prefix(std::string_view text);

/// Parses "aa:bb:cc:dd:ee:ff". Any thread.
std::optional<MacAddr> parse_mac(std::string_view text);

/// Suite names accepted in [[sa]].suite: "aes128gcm16", "aes256gcm16",
/// "chacha20poly1305", "aes128gmac", "aes256gmac", "aes128-sha1", "aes128-sha256",
/// "aes256-sha256", "aes256-sha512", "null-sha256", ... Returns nullopt otherwise.
std::optional<crypto::Suite> parse_suite(std::string_view name);

/// Bytes of encryption keymat (with salt) and HMAC key a suite needs.
struct KeyBytes {
    uint32_t enc;
    uint32_t auth;
};
KeyBytes suite_key_bytes(crypto::Suite s) noexcept;

}  // namespace espgw::dp

#pragma once
// [ike] keys of IKE fragmentation (RFC 7383): fragmentation = "yes" | "no" | "force"
// and fragment_size (the largest IP datagram we send, RFC 7383 §2.5.1). Part of
// parse_config; throws std::invalid_argument naming the key.

#include <toml++/toml.h>

#include <cstdint>

namespace espgw::ike {

/// [ike] fragmentation: "no" (neither announced nor accepted), "yes" (announced in
/// IKE_SA_INIT; we fragment when the peer announced it too) or "force" (we also
/// fragment towards a peer that did not announce it).
enum class FragmentationMode : uint8_t { NO, YES, FORCE };

/// Defaults: RFC 7383 §2.5.1 suggests 576 bytes for IPv4 when nothing is known about
/// the path and 1280 for IPv6; like strongSwan we default to 1280, which crosses every
/// path that carries IPv6 and the usual tunnels.
struct FragmentationConfig {
    FragmentationMode mode = FragmentationMode::YES;
    uint32_t fragment_size = 1280;  // bytes of the whole IP datagram of one fragment
};

/// Reads ike.fragmentation and ike.fragment_size (576..65535) from the [ike] table.
void parse_fragmentation(const toml::table& ike, FragmentationConfig& out);

}  // namespace espgw::ike

#pragma once
// Traffic selectors: CIDR text to TS ranges and responder narrowing (RFC 7296 §2.9):
// the answer is the intersection of what the peer proposed and what the policy allows.

#include "control/ike/message.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace espgw::ike {

/// "10.0.0.0/24", "0.0.0.0/0", "2001:db8::/32", optionally "[proto/port]" is not
/// supported yet. Throws std::invalid_argument naming the text.
TrafficSelector ts_from_cidr(std::string_view cidr);
/// A single-address selector (all protocols and ports).
TrafficSelector ts_host(std::span<const uint8_t> addr);
/// "10.0.0.0..10.0.0.255 proto 0 ports 0-65535"-style text for logs.
std::string to_string(const TrafficSelector& ts);
/// The selectors of a list joined with ", " ("(none)" when empty), for logs.
std::string to_string(const std::vector<TrafficSelector>& list);
/// Why a proposal was answered TS_UNACCEPTABLE, for the event log: the initiator's TSi
/// and TSr and what our policy allows for each (`allowed_remote` empty: anything), e.g.
/// a road warrior whose TSi is its own outer address while we require its virtual IP.
std::string ts_unacceptable_reason(const std::vector<TrafficSelector>& tsi, const std::vector<TrafficSelector>& tsr,
                                   const std::vector<TrafficSelector>& allowed_remote,
                                   const std::vector<TrafficSelector>& allowed_local);

/// Every non-empty intersection of a proposed selector with a configured one, in
/// proposed order (§2.9 narrowing). Empty result = TS_UNACCEPTABLE.
std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& proposed,
                                    const std::vector<TrafficSelector>& allowed);

}  // namespace espgw::ike

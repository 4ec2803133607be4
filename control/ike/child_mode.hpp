#pragma once
// Tunnel or transport mode for a CHILD_SA (RFC 7296 §1.3.1, §2.23.1), shared by the
// tasks that create CHILD_SAs (child_create, ike_auth_i, child_rekey):
//   - transport is asked for with N(USE_TRANSPORT_MODE) in the request and agreed to by
//     echoing it in the response; without the echo the CHILD_SA is a tunnel;
//   - transport protects the two IKE endpoints' own traffic, so its selectors are
//     host-to-host: each side is exactly the IKE address of that end;
//   - behind a NAT the peer names its private address (and maybe ours as it knows it):
//     §2.23.1 has the addresses the IKE packets carried substituted for them, the way
//     strongSwan's child_create does (only selectors of one single host are replaced).
// Pure functions; any thread.

#include "control/ike/ike_sa.hpp"
#include "control/ike/message.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace espgw::ike {

/// The notify that asks for (request) or agrees to (response) transport mode.
Payload use_transport_mode_notify();
/// Whether `m` carries N(USE_TRANSPORT_MODE).
bool has_use_transport_mode(const Message& m);

/// The single-address selector of an IPv4 IKE address (host order), all protocols/ports.
TrafficSelector ts_host4(uint32_t addr_host);
/// True when `ts` is not empty and every selector covers exactly `addr_host` (IPv4).
bool ts_is_host(const std::vector<TrafficSelector>& ts, uint32_t addr_host);
/// §2.23.1: the selectors with the host address replaced by `addr_host` (the address the
/// IKE packets carried). Selectors that are not a single host, or another host than the
/// first one, are left out (the result may be empty: then there is nothing to substitute).
std::vector<TrafficSelector> ts_nat_substitute(const std::vector<TrafficSelector>& ts, uint32_t addr_host);

/// Responder: decides the mode of a CHILD_SA requested with `tsi`/`tsr` (and
/// N(USE_TRANSPORT_MODE) when `asked`) and narrows the selectors (§2.9) into `ts_remote`
/// (from TSi, against `allowed_remote`; null: whatever the peer proposed) and `ts_local`
/// (from TSr, against `allowed_local`). Transport only when asked, the connection's mode
/// is transport, the IKE SA has no virtual IP and the narrowed selectors are exactly the
/// two IKE addresses (after §2.23.1 substitution when a NAT was detected); otherwise
/// tunnel, narrowed from the selectors as received, and a transport request declined is
/// logged (§1.3.1: the responder declines by leaving the notify out; strongSwan's
/// responder does the same).
ChildMode responder_mode(const IkeSa& sa, bool asked, const std::vector<TrafficSelector>& tsi,
                         const std::vector<TrafficSelector>& tsr, const std::vector<TrafficSelector>* allowed_remote,
                         const std::vector<TrafficSelector>& allowed_local, std::vector<TrafficSelector>& ts_remote,
                         std::vector<TrafficSelector>& ts_local);

/// Initiator: the selectors of a transport CHILD_SA we propose (TSi, TSr): our IKE
/// address and the peer's, narrowed by the connection's local_ts/remote_ts (protocol and
/// port restrictions); a configured range without the address leaves the bare host.
std::vector<TrafficSelector> transport_ts_local(const IkeSa& sa);
std::vector<TrafficSelector> transport_ts_remote(const IkeSa& sa);

/// Initiator: checks the response's mode against what we asked for and, for transport,
/// turns the response's selectors into ours (§2.23.1 substitution where a NAT was
/// detected) and checks they are host-to-host. Returns an empty string when the CHILD_SA
/// may be installed, else why not (for the log line; the caller deletes the CHILD_SA,
/// §1.3.1: "If this is unacceptable to the initiator, the initiator MUST delete the SA").
std::string check_response_mode(const IkeSa& sa, ChildMode asked, bool echoed, std::vector<TrafficSelector>& ts_local,
                                std::vector<TrafficSelector>& ts_remote);

}  // namespace espgw::ike

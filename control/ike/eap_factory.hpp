#pragma once
// Which EAP server answers a connection's users (connection key remote_auth):
//   "eap-mschapv2"  EAP-MSCHAPv2 against the local user database (eap_mschapv2.hpp)
//   "eap-gtc"       EAP-GTC (password) against the local user database
//   "eap-tls"       EAP-TLS: client certificate against [pki] (eap_tls.hpp); the user
//                   database, when there is one, adds groups and refuses disabled users
//   "eap-radius"    relay to the [radius] servers (eap_radius.hpp, radius_service.hpp)
// A new method adds its branch here. Control thread only.

#include "control/ike/task.hpp"

#include <memory>
#include <string>

namespace espgw::ike {

/// The EAP server for IKE SA `sa` of connection `conn`. Null with `why` set when the
/// method cannot run (no user database, no [radius], unknown method); `method`
/// receives its name for logs ("EAP-MSCHAPv2").
std::unique_ptr<EapServer> make_eap_server(const TaskContext& ctx, const ConnectionConfig& conn, const IkeSa& sa,
                                           std::string& method, std::string& why);

/// True for the remote_auth values that authenticate the peer with EAP.
bool is_eap_auth(const std::string& remote_auth) noexcept;

/// True for the methods RFC 5998 §4 lets replace our AUTH (EAP-only authentication):
/// mutual and key-generating (EAP-TLS). MSCHAPv2 is not on that list.
bool is_mutual_eap(const std::string& remote_auth) noexcept;

}  // namespace espgw::ike

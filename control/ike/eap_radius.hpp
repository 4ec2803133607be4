#pragma once
// EAP-RADIUS (connection remote_auth = "eap-radius"): an EapServer that relays the
// peer's EAP conversation to RADIUS servers (RFC 3579 §2) instead of running a method
// itself, like strongSwan's eap-radius plugin.
//
//   start(identity)   --> Access-Request { User-Name, EAP-Message(Response/Identity), NAS attrs }
//   Access-Challenge  <-- { EAP-Message(Request), State }      => CONTINUE (Request to the peer)
//   process(Response) --> Access-Request { EAP-Message(Response), State echoed }
//   Access-Accept     <-- { EAP-Success, MS-MPPE-Recv/Send-Key, Framed-IP-Address, Class, Filter-Id }
//                                                                => SUCCESS, MSK = Recv-Key | Send-Key
//   Access-Reject     <-- { EAP-Failure, Reply-Message? }       => FAILURE "RADIUS reject[: msg]"
//   no answer from any server                                    => FAILURE "RADIUS timeout"
//
// start() and process() return PENDING; poll() (from IkeManager::tick) drives the
// shared radius::Client and yields the step once the reply came. Control thread only.

#include "control/ike/endpoint.hpp"
#include "control/ike/message.hpp"  // Bytes, used by eap_server.hpp
#include "control/ike/eap_server.hpp"
#include "control/radius/client.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace espgw::ike {

/// What the relay tells the RADIUS server about the NAS and the session.
struct EapRadiusParams {
    std::shared_ptr<radius::Client> client;
    std::string nas_identifier;   // RFC 2865 §5.32 (per connection, or [radius] nas_identifier)
    Endpoint local;               // our IKE address: NAS-IP-Address, Called-Station-Id
    Endpoint remote;              // the peer's: Calling-Station-Id
    uint32_t framed_mtu = 1400;   // RFC 3579 §2.4: the largest EAP packet the path carries
    // Called on Access-Accept with the user name and the Class attributes (RFC 2865
    // §5.25: the NAS echoes them unmodified in its Accounting-Requests).
    std::function<void(const std::string& user, std::vector<radius::Bytes> classes)> on_accept;
};

class EapRadiusServer final : public EapServer {
public:
    explicit EapRadiusServer(EapRadiusParams params);
    ~EapRadiusServer() override;

    EapStep start(const std::string& identity) override;
    EapStep process(std::span<const uint8_t> eap) override;
    EapStep poll() override;
    void abort() override;

    /// The RADIUS request attributes common to Access- and Accounting-Requests
    /// (User-Name, NAS-*, Service-Type, Called/Calling-Station-Id). Also used by accounting.
    static void add_nas_attributes(radius::Packet& p, const EapRadiusParams& params, const std::string& user);

private:
    EapStep submit(std::span<const uint8_t> eap);
    EapStep on_reply(const radius::Result& r);

    EapRadiusParams p_;
    std::string identity_;
    radius::Bytes state_;                                 // RFC 2865 §5.24: echoed unchanged
    std::optional<radius::Client::Handle> outstanding_;
    uint8_t last_eap_id_ = 0;
    bool finished_ = false;
};

}  // namespace espgw::ike

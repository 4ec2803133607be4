#pragma once
// State of one IKE SA (RFC 7296 §2): SPIs, nonces, negotiated algorithms, keys,
// the peer's identity and its CHILD_SAs. Owned by IkeManager; control thread only.

#include "control/ike/algorithms.hpp"
#include "control/ike/config.hpp"
#include "control/ike/crypto_dh.hpp"
#include "control/ike/crypto_keys.hpp"
#include "control/ike/endpoint.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/message.hpp"
#include "control/ike/sa_sink.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

enum class IkeSaState { CREATED, INIT_DONE, ESTABLISHED, DELETING };

struct ChildSa {
    ChildSaInfo info;
};

struct IkeSa {
    uint64_t spi_i = 0;
    uint64_t spi_r = 0;
    bool initiator = false;  // our role
    IkeSaState state = IkeSaState::CREATED;
    Endpoint local;
    Endpoint remote;

    Algorithms ike_alg;
    std::optional<DhKey> dh;
    Bytes ni, nr;
    IkeSaKeys keys;
    Bytes init_request;   // raw IKE_SA_INIT request, signed in AUTH (§2.15)
    Bytes init_response;  // raw IKE_SA_INIT response

    bool nat_local = false;   // §2.23: we are behind a NAT
    bool nat_remote = false;  // the peer is behind a NAT (or fakes it)

    const ConnectionConfig* conn = nullptr;  // chosen in IKE_AUTH
    Identity peer_id;
    std::optional<uint32_t> virtual_ip;
    std::vector<ChildSa> children;

    // Responder message-ID window of 1 (§2.3): the next request we expect, and the last
    // response for replay to a retransmitted request.
    uint32_t expected_msg_id = 0;
    std::optional<uint32_t> last_response_id;
    Bytes last_response;

    /// "peer 192.0.2.7[4500] id rw@example.com" prefix for every log line.
    std::string who() const;
    bool nat() const noexcept { return nat_local || nat_remote; }
};

}  // namespace espgw::ike

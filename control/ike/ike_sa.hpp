#pragma once
// State of one IKE SA (RFC 7296 §2): SPIs, nonces, negotiated algorithms, keys,
// the peer's identity and its CHILD_SAs. Owned by IkeManager; control thread only.

#include "control/ike/algorithms.hpp"
#include "control/ike/config.hpp"
#include "control/ike/crypto_dh.hpp"
#include "control/ike/crypto_keys.hpp"
#include "control/ike/eap_server.hpp"
#include "control/ike/endpoint.hpp"
#include "control/ike/fragments.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/message.hpp"
#include "control/ike/sa_sink.hpp"

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

enum class IkeSaState { CREATED, INIT_DONE, ESTABLISHED, DELETING };

using Clock = std::chrono::steady_clock;

struct ChildSa {
    ChildSaInfo info;
    Clock::time_point rekey_at = Clock::time_point::max();   // soft lifetime (we rekey)
    Clock::time_point expire_at = Clock::time_point::max();  // hard lifetime (we delete)
    bool rekeying = false;  // our CREATE_CHILD_SA rekey of this pair is queued or outstanding
    bool replaced = false;  // a newer pair took over: only the Delete of this one is left
    bool deleting = false;  // our Delete of this pair is queued or outstanding
    // §2.8.1: the peer rekeyed this pair while our own rekey of it was outstanding:
    // the smallest nonce of the peer's exchange decides which new pair stays.
    std::optional<Bytes> peer_rekey_min_nonce;
    // A pair the peer made by rekeying ours (we responded): the inbound SPI of the pair
    // it replaces. Should the peer delete this one first (it refused it, e.g. in the
    // wrong mode, RFC 7296 §1.3.1), the replaced pair is live again.
    uint32_t replaces_spi_in = 0;
};

/// Starts the configured soft/hard lifetimes of a new CHILD_SA at `now`.
inline void arm_child_timers(ChildSa& c, const IkeConfig& cfg, Clock::time_point now) {
    if (cfg.child_rekey_time_s) c.rekey_at = now + std::chrono::seconds(cfg.child_rekey_time_s);
    if (cfg.child_life_time_s) c.expire_at = now + std::chrono::seconds(cfg.child_life_time_s);
}

class Task;

/// An EAP conversation of an IKE SA we answer (RFC 7296 §2.16): IKE_AUTH rounds carry
/// EAP until EAP-Success, then the peer's and our AUTH are keyed with the MSK.
struct EapSession {
    std::unique_ptr<EapServer> server;
    std::string method;           // for logs: "EAP-MSCHAPv2", "EAP-GTC", "EAP-RADIUS"
    Message first_request;        // IKE_AUTH #1 (SAi2, TSi, TSr, CP): its CHILD_SA and CP
                                  // are answered in the final exchange
    Bytes idr_body;               // the IDr we sent (our AUTH signs it, §2.15)
    Bytes idi_body;               // the IDi the peer's MSK AUTH signs (RFC 4739: the second one)
    bool await_second_id = false; // RFC 4739: certificate done, the next request names the user
    bool started = false;         // our first EAP Request went out
    bool identity_round = false;  // our EAP-Identity Request is outstanding
    uint8_t identity_id = 0;
    std::string identity;         // the EAP identity (IDi or the EAP-Identity response)
    bool pending = false;         // the server answers later: pending_header's request waits
    Header pending_header;
    std::vector<Payload> pending_payloads;  // what the response carries so far (IDr, CERT, AUTH)
    bool succeeded = false;       // EAP-Success sent: the next request carries the MSK AUTH
    bool eap_only = false;        // RFC 5998: our first response carried no CERT/AUTH
    bool failure_logged = false;  // the server's failing step was logged (task_ike_eap.cpp)
    bool failure_counted = false; // ... and counted in IkeCounters::eap_failures (once)
    Bytes failure_eap;            // the EAP-Failure that goes with AUTHENTICATION_FAILED
    crypto::SecretBytes msk;
};

/// Our own request in flight (§2.1: window of one): sent, waiting for its response,
/// retransmitted with exponential back-off until the limit.
struct PendingRequest {
    std::shared_ptr<Task> task;
    ExchangeType exchange = ExchangeType::INFORMATIONAL;
    uint32_t message_id = 0;
    Bytes wire;
    uint32_t retransmits = 0;
    Clock::time_point next_send;
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
    FragmentState frag;       // RFC 7383: negotiated support, reassembly, our fragmented messages

    const ConnectionConfig* conn = nullptr;  // chosen in IKE_AUTH
    Identity peer_id;
    std::optional<uint32_t> virtual_ip;   // host order (INTERNAL_IP4_ADDRESS)
    std::optional<Ip6> virtual_ip6;       // INTERNAL_IP6_ADDRESS
    // The pools whose CP attributes went with them (virtual_ip.hpp: the admitted pool,
    // also for a static address); empty: none.
    std::string vip_pool, vip6_pool;
    // A user authenticated by EAP (RFC 7296 §2.16): the EAP conversation while it runs,
    // then who the user is: its name and static virtual IP (UserDb static_ip / RADIUS
    // Framed-IP-Address, overriding the pool); its groups go to `groups` below.
    std::unique_ptr<EapSession> eap;
    std::string user;
    std::string auth_method;  // "EAP-MSCHAPv2", ...; empty: no user authentication
    std::optional<uint32_t> user_ip;
    // Issue 6: the groups the authority gave the authenticated user (user database,
    // RADIUS Class / Filter-Id). Its CHILD_SAs carry them to the dataplane as firewall
    // tags (source_group rules).
    std::vector<std::string> groups;
    std::vector<ChildSa> children;

    // Responder message-ID window of 1 (§2.3): the next request we expect, and the last
    // response for replay to a retransmitted request.
    uint32_t expected_msg_id = 0;
    std::optional<uint32_t> last_response_id;
    Bytes last_response;

    // Our requests (§2.2: our own message-ID counter, starting at 0 for the IKE SA's
    // responder too): one outstanding, the rest queued in order.
    uint32_t next_msg_id = 0;
    std::optional<PendingRequest> pending;
    std::deque<std::shared_ptr<Task>> queue;

    Clock::time_point created{};         // IKE_SA_INIT answered (half-open timeout)
    Clock::time_point last_rx{};         // last authenticated message from the peer (DPD)
    Clock::time_point next_keepalive{};  // RFC 3948 §2.3
    std::optional<Clock::time_point> rekeyed_at;  // §1.3.2: replaced; the peer deletes it

    /// The CHILD_SA whose inbound (ours) / outbound (the peer's inbound) SPI is given.
    ChildSa* child_by_in(uint32_t spi_in) noexcept {
        for (auto& c : children)
            if (c.info.spi_in == spi_in) return &c;
        return nullptr;
    }
    ChildSa* child_by_out(uint32_t spi_out) noexcept {
        for (auto& c : children)
            if (c.info.spi_out == spi_out) return &c;
        return nullptr;
    }

    /// "peer 192.0.2.7[4500] id rw@example.com" prefix for every log line.
    std::string who() const;
    bool nat() const noexcept { return nat_local || nat_remote; }
};

}  // namespace espgw::ike

#pragma once
// The IKE SA table and the exchange dispatcher (the task manager): finds or creates
// the IKE SA of each received message, enforces the message-ID window and replays the
// last response to a retransmitted request (§2.1, §2.2), decrypts SK, runs the
// exchange's tasks and sends the response. It also initiates our own requests (CHILD
// rekey, delete, DPD) one at a time per IKE SA, retransmitting them with exponential
// back-off (§2.1, §2.4), and runs the lifecycle timers from tick(): rekey/hard
// lifetimes, liveness checks, NAT keepalives (RFC 3948), half-open expiry and the
// stateless-cookie secret (§2.6). Control thread only.

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/cookie_jar.hpp"
#include "control/ike/ike_sa.hpp"
#include "control/ike/radius_service.hpp"
#include "control/ike/sa_sink.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/task.hpp"
#include "control/ike/transport.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace espgw::ike {

class IkeEap;

/// Counters of dropped and answered messages, by reason.
struct IkeCounters {
    uint64_t received = 0;
    uint64_t parse_errors = 0;
    uint64_t unknown_spi = 0;
    uint64_t bad_msg_id = 0;
    uint64_t icv_failures = 0;
    uint64_t retransmits_answered = 0;
    uint64_t responses_sent = 0;
    uint64_t requests_sent = 0;
    uint64_t retransmits_sent = 0;
    uint64_t responses_dropped = 0;    // response we did not wait for, or failing ICV
    uint64_t peers_dead = 0;           // our request went unanswered: IKE SA cleared
    uint64_t cookies_sent = 0;         // §2.6: IKE_SA_INIT answered with N(COOKIE)
    uint64_t cookies_accepted = 0;     // retry carrying a valid cookie
    uint64_t cookies_rejected = 0;     // retry carrying a wrong or stale cookie
    uint64_t half_open_expired = 0;
    uint64_t child_rekeys = 0;         // CHILD_SAs rekeyed (either side)
    uint64_t child_mode_mismatch = 0;  // CHILD_SAs we initiated answered in another mode (§1.3.1): deleted
    uint64_t ike_rekeys = 0;
    uint64_t dpd_sent = 0;
    uint64_t keepalives_sent = 0;
    FragmentCounters fragments;        // RFC 7383 (fragments.hpp)
    uint64_t eap_successes = 0;        // users authenticated with EAP (§2.16)
    uint64_t eap_failures = 0;         // EAP conversations refused (reason in the log)
    uint64_t eap_pending_dropped = 0;  // retransmitted requests while the EAP server (RADIUS) was busy
};

class IkeManager final : public ChildExpiryListener {
public:
    /// `config`, `transport` and `sink` must outlive the manager.
    IkeManager(const IkeConfig& config, Transport& transport, SaSink& sink);

    /// Handles one received IKE message (non-ESP marker already stripped) that arrived
    /// at `local` from `remote`. Never throws for anything a peer can send.
    void on_message(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data);

    /// Runs the timers (retransmissions, DPD, rekey, keepalives, cookie secret) due at
    /// `now` (steady clock). Call at least every 200 ms from the control thread.
    void tick(std::chrono::steady_clock::time_point now);

    /// ChildExpiryListener: the dataplane's soft (rekey now) or hard (delete) lifetime
    /// of the pair with inbound SPI `spi_in` came. Unknown SPIs are ignored.
    void on_child_expired(uint32_t spi_in, bool hard) override;

    /// Queues an INFORMATIONAL Delete of the CHILD_SA pair with inbound SPI `spi_in`
    /// (false: unknown) or of the IKE SA with our SPI `spi_r`. For the CLI and tests.
    bool delete_child(uint32_t spi_in);
    bool delete_ike_sa(uint64_t spi_r);

    /// Starts an IKE SA as initiator for connection `name` (site-to-site, PSK; RFC 7296
    /// §1.2): IKE_SA_INIT to its remote_addr (port 500), then IKE_AUTH with the first
    /// CHILD_SA, retransmitted like our other requests. Returns false (logged) for an
    /// unknown connection or one without remote_addr. For start-up, restarts and `conn up`.
    bool initiate(const std::string& name);

    const IkeCounters& counters() const noexcept { return counters_; }
    size_t ike_sa_count() const noexcept { return sas_.size(); }
    size_t half_open_count() const noexcept { return half_open_.size(); }
    /// The IKE SA with our (responder) SPI, or nullptr. For tests and the CLI.
    const IkeSa* find(uint64_t spi_r) const;
    /// Our SPIs of all IKE SAs, in order. For tests and the CLI.
    std::vector<uint64_t> spis() const;
    /// The virtual-IP pools with their leases (by pool name). For the CLI, the lease
    /// file and reload (which adds pools new in the configuration).
    std::map<std::string, AddressPool>& pools() noexcept { return pools_; }
    /// The local user database for EAP connections (eap-mschapv2, eap-gtc); it must
    /// outlive the manager and may change in place (reload, `espctl user`). Null: none.
    void set_users(const UserDb* users) noexcept { ctx_.users = users; }
    /// Tests: every EAP connection gets its server from `make` (e.g. an asynchronous fake).
    void set_eap_override(std::function<std::unique_ptr<EapServer>(const ConnectionConfig&)> make) {
        ctx_.eap_override = std::move(make);
    }
    /// The RADIUS side (EAP-RADIUS relays, accounting); nullptr without [radius].
    RadiusService* radius() noexcept { return radius_.get(); }
    /// espctl reload: why the [radius] table `next` (nullopt: none) cannot be applied
    /// now, or nullopt. Refused: accounting turned off or [radius] removed while
    /// accounting sessions are open.
    std::optional<std::string> radius_change_refused(const std::optional<RadiusConfig>& next) const;
    /// Applies `next` (after radius_change_refused() said yes): changes go to the
    /// running RADIUS client; a new [radius] starts one (Accounting-On on the next
    /// tick); a removed one sends Accounting-Off and is kept until it is answered.
    void reconfigure_radius(const std::optional<RadiusConfig>& next);

private:
    void handle_init(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data, const Message& m);
    // `opened`: the message was reassembled from fragments (RFC 7383) and is already
    // decrypted, with the inner chain's parse error `opened_pe`.
    void handle_encrypted(IkeSa& sa, const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data,
                          const Message& m, const Message* opened = nullptr, ParseError opened_pe = ParseError::OK);
    void handle_response(IkeSa& sa, std::span<const uint8_t> data, const Message& m, const Message* opened = nullptr);
    // RFC 7383 (ike_manager_fragments.cpp): a received SKF message; sealing our message
    // into one SK message or fragments; sending a message or all its fragments.
    void on_fragment(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data);
    std::vector<Bytes> seal(IkeSa& sa, const Header& h, const std::vector<Payload>& payloads, const SkKeys& keys);
    void send_all(const Endpoint& local, const Endpoint& remote, const Bytes& whole, const std::vector<Bytes>& fragments);
    bool open(IkeSa& sa, std::span<const uint8_t> data, const Message& m, Message& inner);
    void respond(IkeSa& sa, const Header& req, std::vector<Payload> payloads, bool encrypt);
    void handle_informational(IkeSa& sa, const Message& req, const Message& inner);
    void handle_ike_auth(IkeSa& sa, const Header& req, const Message& inner);
    void fail_ike_auth(IkeSa& sa, const Header& req, const Exchange& ex);
    void finish_eap_round(IkeSa& sa, const Header& req, IkeEap& eap, Exchange& ex);
    bool poll_eap(IkeSa& sa);  // a PENDING EAP step's result: true when the IKE SA failed
    void after_exchange(IkeSa& sa, Exchange& ex);
    void kick(IkeSa& sa);
    void tick_sa(IkeSa& sa, std::vector<uint64_t>& dead);
    IkeSa* owner_of(uint32_t spi_in, ChildSa** child);
    void remove_sa(uint64_t spi_r);
    void handle_init_response(IkeSa& sa, std::span<const uint8_t> data, const Message& m);
    void send_init(IkeSa& sa, std::shared_ptr<Task> task);
    void schedule_restart(const IkeSa& sa);
    void forget_half_open(uint64_t spi_r);
    void tick_radius();
    SaUsage usage_of(const IkeSa& sa);

    const IkeConfig& config_;
    Transport& transport_;
    SaSink& sink_;
    std::map<std::string, AddressPool> pools_;
    TaskContext ctx_;
    std::map<uint64_t, std::unique_ptr<IkeSa>> sas_;                 // by our SPI (SPIr)
    std::map<std::pair<uint64_t, Endpoint>, uint64_t> half_open_;    // (SPIi, peer) -> SPIr
    IkeCounters counters_;
    Clock::time_point now_;
    CookieJar cookies_;
    std::map<std::string, Clock::time_point> restart_at_;  // start_action "start": initiate again then
    std::unique_ptr<RadiusService> radius_;                 // [radius]: EAP-RADIUS and accounting
    std::unique_ptr<RadiusService> radius_retired_;         // removed by a reload: its Accounting-Off in flight
    uint32_t acct_terminate_cause_ = 1;                     // RFC 2866 §5.10 for the next Stop (User-Request)
};

}  // namespace espgw::ike

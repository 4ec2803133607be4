#pragma once
// espgw-ike's RADIUS side ([radius] configured): owns the one radius::Client (socket,
// failover state) shared by every EAP-RADIUS conversation and by accounting, makes the
// EapRadiusServer of a connection with remote_auth = "eap-radius", and runs the
// accounting sessions of EAP-RADIUS users. IkeManager calls it: make_eap_server() when
// such a user starts IKE_AUTH, on_established() when the user's first CHILD_SA is up,
// on_ended() before the IKE SA's CHILD_SAs are removed, tick() from its own tick.
// Accounting-On goes out on the first tick (and again when a reload changes the
// servers), Accounting-Off from stop() when espgw-ike exits cleanly or from
// accounting_off() when a reload turns accounting off. Control thread only.

#include "control/ike/config.hpp"
#include "control/ike/eap_radius.hpp"
#include "control/ike/radius_accounting.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

class RadiusService {
public:
    using Clock = std::chrono::steady_clock;

    /// Opens the client socket. Throws std::runtime_error when it cannot. `nas_ip`: our
    /// IKE address (host order; 0: unknown), the NAS-IP-Address of Accounting-On/Off.
    explicit RadiusService(const RadiusConfig& cfg, uint32_t nas_ip = 0);

    /// A relay for one IKE SA of connection `conn` (NAS-Identifier: the connection's,
    /// else [radius] nas_identifier).
    std::unique_ptr<EapServer> make_eap_server(const ConnectionConfig& conn, const Endpoint& local,
                                               const Endpoint& remote) const;

    /// The EAP-RADIUS user of IKE SA `key` is connected: Accounting Start (when
    /// accounting is on; idempotent).
    void on_established(uint64_t key, const std::string& user, const ConnectionConfig& conn, const Endpoint& local,
                        const Endpoint& remote, std::optional<uint32_t> virtual_ip, Clock::time_point now);
    /// The IKE SA `key` ends: Accounting Stop with its final counters. No-op for an SA
    /// without an accounting session.
    void on_ended(uint64_t key, const SaUsage& usage, uint32_t terminate_cause, Clock::time_point now);
    /// IKE SA rekey (RFC 7296 §2.18): the session continues under the new SA.
    void on_rekeyed(uint64_t old_key, uint64_t new_key);
    bool accounting_active(uint64_t key) const { return acct_ && acct_->active(key); }

    /// Accounting-On when due, Interim-Updates (`usage` reads an IKE SA's counters) and
    /// RADIUS replies.
    void tick(Clock::time_point now, const RadiusAccounting::UsageFn& usage);

    /// Why `next` cannot replace the running [radius] now (accounting turned off while
    /// sessions are open), or nullopt.
    std::optional<std::string> change_refused(const RadiusConfig& next) const;
    /// espctl reload: servers, secrets, timeout, retries, NAS-Identifier, interim_s and
    /// accounting on/off take effect for new requests; requests in flight move to the
    /// new servers. New servers get an Accounting-On. Call change_refused() first.
    void reconfigure(const RadiusConfig& next, Clock::time_point now);
    /// Accounting-Off (non-blocking; tick() or collect() gathers the answer). Nothing
    /// when accounting is off.
    void accounting_off(Clock::time_point now);
    /// Collects answers of accounting requests in flight.
    void collect(Clock::time_point now);
    size_t in_flight() const noexcept { return acct_ ? acct_->in_flight() : 0; }
    /// Clean exit of espgw-ike: Accounting-Off, then waits up to `max_wait` for it and
    /// any other accounting request in flight to be answered (blocking; logs when not).
    void stop(Clock::duration max_wait);

    const radius::ClientCounters& counters() const noexcept { return client_->counters(); }
    /// The configuration in use (the CLI shows addresses and ports, never secrets).
    const RadiusConfig& config() const noexcept { return cfg_; }
    const RadiusAccounting* accounting() const noexcept { return acct_.get(); }

private:
    RadiusConfig cfg_;  // a copy: a configuration reload must not leave it dangling
    uint32_t nas_ip_ = 0;
    bool on_due_ = true;  // Accounting-On not yet sent to the current servers
    std::shared_ptr<radius::Client> client_;
    std::unique_ptr<RadiusAccounting> acct_;
    // Class attributes of the latest Access-Accept per user, until the user's session
    // starts (shared with the relays' on_accept callbacks).
    std::shared_ptr<std::map<std::string, std::vector<radius::Bytes>>> classes_ =
        std::make_shared<std::map<std::string, std::vector<radius::Bytes>>>();
};

}  // namespace espgw::ike

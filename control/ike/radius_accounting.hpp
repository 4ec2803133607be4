#pragma once
// RADIUS accounting (RFC 2866, RFC 2869 §2.1) of EAP-RADIUS users: one session per
// IKE SA, keyed by our IKE SPI.
//
//   start()   --> Accounting-Request { Acct-Status-Type Start, Acct-Session-Id, User-Name,
//                 Framed-IP-Address, NAS attrs }                 when the user's CHILD_SA is up
//   tick()    --> Interim-Update every interim_s with the octet/packet counters so far
//   stop()    --> Stop { Acct-Session-Time, Acct-Input/Output-Octets/-Packets/-Gigawords,
//                 Acct-Terminate-Cause }                         when the IKE SA ends
//   nas_on()  --> Accounting-On  { NAS attrs }  before the first session (espgw-ike started,
//                 or the servers changed): the server closes any session it still holds
//                 open for this NAS
//   nas_off() --> Accounting-Off { NAS attrs, Acct-Terminate-Cause Admin-Reboot }  when
//                 espgw-ike stops cleanly (RFC 2866 §5.1: the NAS goes out of service)
//
// "Input" is what the user sent to us (our inbound SAs), "Output" what we sent to the
// user (RFC 2866 §5.3/§5.4, from the NAS's point of view). Requests go through the
// shared radius::Client (retransmission, failover); an unanswered one is counted and
// logged, never retried beyond the client's schedule. Control thread only.

#include "control/ike/endpoint.hpp"
#include "control/ike/sa_sink.hpp"
#include "control/radius/client.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

struct AccountingCounters {
    uint64_t starts = 0, interims = 0, stops = 0;  // requests sent
    uint64_t ons = 0, offs = 0;                    // Accounting-On / -Off sent
    uint64_t answered = 0;                         // Accounting-Responses received
    uint64_t timeouts = 0;                         // no server answered
};

class RadiusAccounting {
public:
    using Clock = std::chrono::steady_clock;
    /// Reads the traffic of the session with key `key` so far (cumulative).
    using UsageFn = std::function<SaUsage(uint64_t key)>;

    /// `interim_s` 0: no Interim-Updates.
    RadiusAccounting(std::shared_ptr<radius::Client> client, uint32_t interim_s);

    /// Starts the session `key` (idempotent: a second start for a live key is ignored).
    /// Returns the Acct-Session-Id.
    /// `classes`: the Access-Accept's Class attributes, echoed in every request of the
    /// session (RFC 2865 §5.25).
    std::string start(uint64_t key, const std::string& user, const std::string& nas_identifier, const Endpoint& local,
                      const Endpoint& remote, std::optional<uint32_t> framed_ip, Clock::time_point now,
                      std::vector<radius::Bytes> classes = {});
    /// Ends the session with its final counters; no-op for an unknown key.
    void stop(uint64_t key, const SaUsage& usage, uint32_t terminate_cause, Clock::time_point now);
    /// Moves a live session to a new key (IKE SA rekey: the user's session goes on).
    void rekey(uint64_t old_key, uint64_t new_key);
    bool active(uint64_t key) const { return sessions_.count(key) != 0; }
    /// Sends due Interim-Updates (counters from `usage`) and collects answers.
    void tick(Clock::time_point now, const UsageFn& usage);
    /// Accounting-On / Accounting-Off (RFC 2866 §5.1, Acct-Status-Type 7 / 8) for the
    /// whole NAS: NAS-Identifier `nas_identifier`, NAS-IP-Address `nas_ip` (host order,
    /// 0: left out). Answers are collected by tick() or collect().
    void nas_on(const std::string& nas_identifier, uint32_t nas_ip, Clock::time_point now);
    void nas_off(const std::string& nas_identifier, uint32_t nas_ip, Clock::time_point now);
    /// Collects answers and timeouts of requests in flight (no Interim-Updates).
    void collect(Clock::time_point now);
    /// Interim-Update interval for sessions that start from now on (espctl reload).
    void set_interim(uint32_t interim_s) noexcept { interim_s_ = interim_s; }

    const AccountingCounters& counters() const noexcept { return counters_; }
    size_t sessions() const noexcept { return sessions_.size(); }
    /// Requests not yet answered or timed out (tests wait for 0).
    size_t in_flight() const noexcept { return inflight_.size(); }

private:
    struct Session {
        std::string id;
        std::string user;
        std::string nas_identifier;
        Endpoint local, remote;
        std::optional<uint32_t> framed_ip;
        std::vector<radius::Bytes> classes;
        Clock::time_point started;
        Clock::time_point next_interim = Clock::time_point::max();
    };
    void send(const Session& s, uint32_t status, const SaUsage* usage, uint32_t cause, Clock::time_point now);
    void send_nas_state(uint32_t status, const std::string& nas_identifier, uint32_t nas_ip, Clock::time_point now);

    std::shared_ptr<radius::Client> client_;
    uint32_t interim_s_;
    std::map<uint64_t, Session> sessions_;
    std::vector<std::pair<radius::Client::Handle, std::string>> inflight_;  // handle, "Start alice" for logs
    AccountingCounters counters_;
    uint32_t serial_ = 0;
};

}  // namespace espgw::ike

#pragma once
// espgw-ike's side of its dataplane agent (dp_agent.hpp): the Transport and the SaSink
// of the IKE process when it runs with --dataplane. IKE messages and SA writes go to
// the agent over a socketpair (dp_agent_proto.hpp); punted IKE messages and expiry
// events come back.
//
// DpLink remembers what the dataplane should hold: every live CHILD_SA pair with its
// keys (in SecretBytes: wiped, MADV_DONTDUMP). When the agent says HELLO again after
// espgw-dp restarted (or after the agent itself was restarted), DpLink re-installs
// them all, so tunnels carry traffic again without renegotiating IKE.
//
// The agent is started by the constructor (before espgw-ike drops root) and
// supervised from poll_once: if it dies, it is started again after a second (which
// needs root: an unprivileged espgw-ike exits instead, for systemd to restart it).
// Control thread only.

#include "control/ike/control_commands.hpp"
#include "control/ike/dp_agent_proto.hpp"
#include "control/ike/sa_sink.hpp"
#include "control/ike/transport.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace espgw::ike {

class DpLink final : public Transport, public SaSink {
public:
    using Handler = std::function<void(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t>)>;

    /// Starts the agent for espgw-dp's --file-prefix `prefix`; `grace_s` is [ike]
    /// restart_grace (SAs of an earlier espgw-ike). Throws std::runtime_error when the
    /// agent cannot be started.
    DpLink(std::string prefix, uint32_t grace_s);
    ~DpLink() override;
    DpLink(const DpLink&) = delete;
    DpLink& operator=(const DpLink&) = delete;

    // Transport
    void send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) override;
    void send_nat_keepalive(const Endpoint& local, const Endpoint& remote) override;
    // SaSink
    bool install(const ChildSaInfo& info, const ChildSaKeys& keys) override;
    void remove(uint32_t spi_in, uint32_t spi_out) override;
    bool rekey(uint32_t old_spi_in, uint32_t old_spi_out, const ChildSaInfo& info, const ChildSaKeys& keys) override;
    SaUsage usage(uint32_t spi_in, uint32_t spi_out) override;

    void set_listener(ChildExpiryListener* l) noexcept { listener_ = l; }

    /// Waits up to `timeout_ms` for the agent: punted IKE messages go to `h`, expiry
    /// events to the listener; a (re)attached agent gets every live pair again; a dead
    /// agent is restarted. Control thread.
    void poll_once(int timeout_ms, const Handler& h);

    /// Dataplane counters of every SA by (SPI, inbound), for the CLI. Empty while the
    /// agent is not attached.
    std::map<std::pair<uint32_t, bool>, ChildCounters> counters();

    /// True once the agent attached to espgw-dp (and until it goes away).
    bool attached() const noexcept { return attached_; }
    /// Live CHILD_SA pairs the dataplane should hold.
    size_t pairs() const noexcept { return records_.size(); }
    /// How many times the pairs were re-installed after espgw-dp (or the agent) restarted.
    uint64_t reinstalls() const noexcept { return reinstalls_; }

private:
    struct Record {
        ChildSaInfo info;
        ChildSaKeys keys;
        bool superseded = false;  // rekeyed: only its inbound SA is left, until remove()
    };
    void spawn();
    void agent_gone(const char* why);
    /// Sends a request and waits (up to 5 s) for the reply of type `reply`; other
    /// messages arriving meanwhile are queued. False when the agent is gone.
    bool call(const agent::Writer& w, agent::Msg reply, uint32_t id, std::vector<uint8_t>& out);
    void dispatch(const std::vector<uint8_t>& msg, const Handler* h);
    void replay();
    static ChildSaKeys copy(const ChildSaKeys& k);

    std::string prefix_;
    uint32_t grace_s_;
    int fd_ = -1;
    pid_t pid_ = 0;
    bool attached_ = false;
    bool hello_seen_ = false;
    uint32_t next_id_ = 1;
    uint64_t reinstalls_ = 0;
    std::chrono::steady_clock::time_point next_spawn_{};
    ChildExpiryListener* listener_ = nullptr;
    struct SeqWatch {
        uint64_t seq = 0;   // last sampled outbound sequence number
        uint64_t step = 0;  // its growth over the last sampling interval
    };
    std::map<uint32_t, Record> records_;       // by inbound SPI
    std::map<uint32_t, SeqWatch> seq_;         // by outbound SPI
    std::chrono::steady_clock::time_point next_sample_{};
    std::deque<std::vector<uint8_t>> inbox_;   // agent messages that arrived during a call
};

}  // namespace espgw::ike

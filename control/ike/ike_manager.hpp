#pragma once
// The IKE SA table and the responder's exchange dispatcher (the task manager):
// finds or creates the IKE SA of each received message, enforces the message-ID
// window and replays the last response to a retransmitted request (§2.1, §2.2),
// decrypts SK, runs the exchange's tasks and sends the response. Control thread only.

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ike_sa.hpp"
#include "control/ike/sa_sink.hpp"
#include "control/ike/task.hpp"
#include "control/ike/transport.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace espgw::ike {

/// Counters of dropped and answered messages, by reason.
struct IkeCounters {
    uint64_t received = 0;
    uint64_t parse_errors = 0;
    uint64_t unknown_spi = 0;
    uint64_t bad_msg_id = 0;
    uint64_t icv_failures = 0;
    uint64_t retransmits_answered = 0;
    uint64_t responses_sent = 0;
};

class IkeManager {
public:
    /// `config`, `transport` and `sink` must outlive the manager.
    IkeManager(const IkeConfig& config, Transport& transport, SaSink& sink);

    /// Handles one received IKE message (non-ESP marker already stripped) that arrived
    /// at `local` from `remote`. Never throws for anything a peer can send.
    void on_message(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data);

    /// Runs the timers (retransmissions, DPD, rekey, keepalives, cookie secret) due at
    /// `now` (steady clock). Call at least every 200 ms from the control thread.
    void tick(std::chrono::steady_clock::time_point now);

    const IkeCounters& counters() const noexcept { return counters_; }
    size_t ike_sa_count() const noexcept { return sas_.size(); }
    /// The IKE SA with our (responder) SPI, or nullptr. For tests and the CLI.
    const IkeSa* find(uint64_t spi_r) const;

private:
    void handle_init(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data, const Message& m);
    void handle_encrypted(IkeSa& sa, const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data,
                          const Message& m);
    void respond(IkeSa& sa, const Header& req, std::vector<Payload> payloads, bool encrypt);
    void remove_sa(uint64_t spi_r);
    void forget_half_open(uint64_t spi_r);

    const IkeConfig& config_;
    Transport& transport_;
    SaSink& sink_;
    std::map<std::string, AddressPool> pools_;
    TaskContext ctx_;
    std::map<uint64_t, std::unique_ptr<IkeSa>> sas_;                 // by our SPI (SPIr)
    std::map<std::pair<uint64_t, Endpoint>, uint64_t> half_open_;    // (SPIi, peer) -> SPIr
    IkeCounters counters_;
};

}  // namespace espgw::ike

#pragma once
// RADIUS client (RFC 2865, RFC 2866, RFC 5080 §2.2): one non-blocking UDP socket,
// several servers tried in order with failover, retransmission within a per-request
// timeout, identifier management, and authentication of every reply. The control
// thread calls poll() (IkeManager::tick, EapRadiusServer::poll) to read replies and run
// timers; nothing blocks.
//
// Timing: each server gets `timeout_s` for a request, sent 1 + `retries` times at
// even intervals within it; then the next server gets the same, and after the last
// one the request ends as TIMEOUT. A request starts at the server that last answered,
// so a dead first server costs one timeout once, not per request. Retransmissions
// to one server reuse the Identifier and Request Authenticator (RFC 5080 §2.2.1); a
// failover re-signs the request with that server's secret and a fresh authenticator.
//
// Replies from an unexpected address, for no outstanding identifier, or failing the
// Response Authenticator / Message-Authenticator checks are dropped and counted.
// Secrets never leave this module except to decrypt MS-MPPE keys (Result::secret).

#include "control/radius/packet.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::radius {

using Clock = std::chrono::steady_clock;

struct ServerConfig {
    std::string address;        // IPv4 literal
    uint16_t port = 1812;       // authentication
    uint16_t acct_port = 1813;  // accounting
    std::shared_ptr<const crypto::SecretBytes> secret;
};

struct ClientConfig {
    std::vector<ServerConfig> servers;
    double timeout_s = 15.0;  // per server and request: MFA push approvals take time
    uint32_t retries = 2;     // retransmissions per server within timeout_s
};

struct ClientCounters {
    uint64_t requests = 0;           // requests submitted
    uint64_t sent = 0;               // datagrams sent (first sends)
    uint64_t retransmits = 0;
    uint64_t failovers = 0;          // a request moved on to the next server
    uint64_t timeouts = 0;           // requests that no server answered
    uint64_t replies = 0;            // authenticated replies delivered
    uint64_t dropped_malformed = 0;
    uint64_t dropped_bad_auth = 0;   // Response Authenticator mismatch
    uint64_t dropped_bad_msg_auth = 0;
    uint64_t dropped_unknown = 0;    // unknown source, identifier or stale reply
    uint64_t dropped_bad_code = 0;   // a reply code that does not answer the request
    uint64_t send_errors = 0;
};

/// The end of one request.
struct Result {
    enum class Status { REPLY, TIMEOUT };
    Status status = Status::TIMEOUT;
    Packet reply;                                      // REPLY: the authenticated reply
    Authenticator request_auth{};                      // REPLY: of the request answered (MS-MPPE keys)
    std::shared_ptr<const crypto::SecretBytes> secret; // REPLY: of the server that answered
    std::string server;                                // "address:port" that answered, or the last tried
};

class Client {
public:
    using Handle = uint64_t;

    /// Opens the socket (bound to an ephemeral port on 0.0.0.0). Throws
    /// std::invalid_argument for an empty server list or a bad address/secret, and
    /// std::runtime_error when the socket cannot be opened.
    explicit Client(ClientConfig cfg);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Submits an Access-Request (`accounting` false) or Accounting-Request with the
    /// attributes of `p` (code, id and authenticator are set here); sends it at once
    /// when an identifier is free, else queues it. Returns its handle.
    Handle send(Packet p, bool accounting, Clock::time_point now);
    /// Replaces the servers, secrets, timeout and retries (espctl reload) on the same
    /// socket. Requests in flight restart on the first new server, re-signed with its
    /// secret. Throws std::invalid_argument as the constructor does, changing nothing.
    void reconfigure(const ClientConfig& cfg, Clock::time_point now);
    /// Reads every pending datagram and runs the retransmission/failover timers.
    void poll(Clock::time_point now);
    /// The result of a finished request (then forgotten), or nullopt while it runs.
    std::optional<Result> take(Handle h);
    /// Forgets a request (the IKE SA went away); a late reply is dropped.
    void cancel(Handle h);

    const ClientCounters& counters() const noexcept { return counters_; }
    int fd() const noexcept { return fd_; }
    size_t outstanding() const noexcept { return reqs_.size(); }
    /// The local UDP port (tests).
    uint16_t local_port() const noexcept { return local_port_; }

private:
    struct Server {
        uint32_t addr_be = 0;
        uint16_t port = 0, acct_port = 0;
        std::shared_ptr<const crypto::SecretBytes> secret;
        std::string name;
    };
    struct Request {
        Packet pkt;
        bool accounting = false;
        bool queued = true;          // waiting for a free identifier
        bool done = false;
        size_t server = 0;           // index into servers_
        size_t servers_tried = 0;
        uint32_t sends = 0;          // datagrams sent to the current server
        Bytes wire;
        Authenticator req_auth{};
        Clock::time_point next_send{};
        Clock::time_point server_deadline{};
        Result result;
    };
    static std::vector<Server> servers_of(const ClientConfig& cfg);
    void start_on_server(Request& r, Clock::time_point now);
    void transmit(Request& r);
    void finish(Handle h, Request& r);
    void on_datagram(std::span<const uint8_t> d, uint32_t from_be, uint16_t from_port);
    bool alloc_id(uint8_t& id);

    std::vector<Server> servers_;
    double timeout_s_;
    uint32_t retries_;
    int fd_ = -1;
    uint16_t local_port_ = 0;
    size_t preferred_ = 0;                       // the server that last answered
    Handle next_handle_ = 1;
    std::map<Handle, Request> reqs_;
    std::map<uint8_t, Handle> by_id_;            // identifiers in use
    uint8_t next_id_ = 0;
    ClientCounters counters_;
};

}  // namespace espgw::radius

#pragma once
// The messages between espgw-ike and its dataplane agent (dp_agent.hpp, dp_link.hpp)
// over a SOCK_SEQPACKET socketpair: one message per datagram, a type byte then
// fixed-width little-endian fields and length-prefixed byte strings. Both ends are
// the same binary, so the format needs no versioning; a malformed message is a bug or
// a dead peer, and the reader drops the connection (the agent is restarted).
//
//   IKE process → agent                         agent → IKE process
//   SEND local remote bytes                     HELLO generation
//   KEEPALIVE local remote                      PUNT local remote bytes
//   INSTALL id info keys   → RESULT id ok       EXPIRY spi_in hard
//   REKEY id old_in old_out info keys → RESULT  RESULT id ok
//   REMOVE spi_in spi_out                        USAGE_REPLY id usage
//   USAGE id spi_in spi_out → USAGE_REPLY        COUNTERS_REPLY id [spi in packets bytes]*
//   COUNTERS id            → COUNTERS_REPLY
//
// Keys cross this socket (the agent writes them into the dataplane's tables); the
// buffers holding them are wiped after use. Control threads only.

#include "control/ike/sa_sink.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace espgw::ike::agent {

enum class Msg : uint8_t {
    SEND = 1,
    KEEPALIVE = 2,
    INSTALL = 3,
    REKEY = 4,
    REMOVE = 5,
    USAGE = 6,
    COUNTERS = 7,
    HELLO = 20,
    PUNT = 21,
    EXPIRY = 22,
    RESULT = 23,
    USAGE_REPLY = 24,
    COUNTERS_REPLY = 25,
};

/// Largest message (an IKE message of up to 64 KiB plus headers).
inline constexpr size_t kMaxMessage = 70000;

/// Appends fields; the buffer is wiped on destruction (it may hold keys).
class Writer {
public:
    explicit Writer(Msg type) { buf_.push_back(static_cast<uint8_t>(type)); }
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;
    Writer& u8(uint8_t v);
    Writer& u16(uint16_t v);
    Writer& u32(uint32_t v);
    Writer& u64(uint64_t v);
    Writer& bytes(std::span<const uint8_t> b);
    Writer& str(const std::string& s);
    Writer& endpoint(const Endpoint& e);
    Writer& info(const ChildSaInfo& i);
    Writer& keys(const ChildSaKeys& k);
    std::span<const uint8_t> data() const noexcept { return buf_; }

private:
    std::vector<uint8_t> buf_;
};

/// Reads fields in order; any overrun sets failed() and yields zeros / empty values.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> msg) : p_(msg) {}
    Msg type();
    uint8_t u8();
    uint16_t u16();
    uint32_t u32();
    uint64_t u64();
    std::vector<uint8_t> bytes();
    std::string str();
    Endpoint endpoint();
    ChildSaInfo info();
    ChildSaKeys keys();
    bool failed() const noexcept { return failed_; }
    /// True when every byte was consumed and nothing overran.
    bool done() const noexcept { return !failed_ && off_ == p_.size(); }

private:
    bool take(size_t n);
    std::span<const uint8_t> p_;
    size_t off_ = 0;
    bool failed_ = false;
};

/// Sends one message (blocking, MSG_NOSIGNAL). False when the peer is gone.
bool send_msg(int fd, const Writer& w);
/// Receives one message into `buf` (resized to its length). 1: a message, 0: the
/// peer closed, -1: nothing available (non-blocking) or an error.
int recv_msg(int fd, std::vector<uint8_t>& buf, bool block);

}  // namespace espgw::ike::agent

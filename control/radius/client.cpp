#include "control/radius/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace espgw::radius {

std::vector<Client::Server> Client::servers_of(const ClientConfig& cfg) {
    if (cfg.servers.empty()) throw std::invalid_argument("radius: no servers");
    if (!(cfg.timeout_s > 0)) throw std::invalid_argument("radius: timeout must be positive");
    std::vector<Server> out;
    for (const auto& s : cfg.servers) {
        in_addr a{};
        if (inet_pton(AF_INET, s.address.c_str(), &a) != 1)
            throw std::invalid_argument("radius: server address '" + s.address + "' is not an IPv4 address");
        if (!s.secret || s.secret->empty()) throw std::invalid_argument("radius: server " + s.address + " has no secret");
        out.push_back(Server{a.s_addr, s.port, s.acct_port, s.secret, s.address});
    }
    return out;
}

Client::Client(ClientConfig cfg) : servers_(servers_of(cfg)), timeout_s_(cfg.timeout_s), retries_(cfg.retries) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("radius: socket failed");
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
        ::close(fd_);
        throw std::runtime_error("radius: bind failed");
    }
    socklen_t sl = sizeof sin;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &sl);
    local_port_ = ntohs(sin.sin_port);
}

Client::~Client() {
    if (fd_ >= 0) ::close(fd_);
}

void Client::reconfigure(const ClientConfig& cfg, Clock::time_point now) {
    std::vector<Server> next = servers_of(cfg);  // throws before anything changes
    servers_ = std::move(next);
    timeout_s_ = cfg.timeout_s;
    retries_ = cfg.retries;
    preferred_ = 0;
    // Requests on the wire move to the first new server, re-signed with its secret as on
    // a failover; a late reply from the old server no longer matches and is dropped.
    for (auto& [h, r] : reqs_) {
        if (r.done || r.queued) continue;
        r.server = 0;
        r.servers_tried = 0;
        start_on_server(r, now);
    }
}

bool Client::alloc_id(uint8_t& id) {
    // RFC 5080 §2.2.1: an identifier is not reused while a request holding it may still
    // be answered. One socket: 256 outstanding at most, the rest wait.
    for (int i = 0; i < 256; ++i) {
        const uint8_t cand = next_id_++;
        if (!by_id_.count(cand)) {
            id = cand;
            return true;
        }
    }
    return false;
}

Client::Handle Client::send(Packet p, bool accounting, Clock::time_point now) {
    const Handle h = next_handle_++;
    Request& r = reqs_[h];
    r.pkt = std::move(p);
    r.pkt.code = accounting ? Code::ACCOUNTING_REQUEST : Code::ACCESS_REQUEST;
    r.accounting = accounting;
    r.server = preferred_;
    ++counters_.requests;
    uint8_t id = 0;
    if (alloc_id(id)) {
        r.pkt.id = id;
        by_id_[id] = h;
        r.queued = false;
        start_on_server(r, now);
    }
    return h;
}

void Client::start_on_server(Request& r, Clock::time_point now) {
    const Server& s = servers_[r.server];
    const auto secret = s.secret->bytes();
    if (r.accounting) {
        r.wire = encode_accounting_request(r.pkt, secret);
        if (r.wire.size() >= 20) std::copy(r.wire.begin() + 4, r.wire.begin() + 20, r.req_auth.begin());
    } else {
        // RFC 2865 §3: the Request Authenticator is unpredictable and unique per secret.
        if (RAND_bytes(r.pkt.authenticator.data(), 16) != 1) throw std::runtime_error("RAND_bytes");
        r.req_auth = r.pkt.authenticator;
        r.wire = encode_access_request(r.pkt, secret);
    }
    r.sends = 0;
    r.server_deadline = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s_));
    r.next_send = now;
    r.result.server = s.name + ":" + std::to_string(r.accounting ? s.acct_port : s.port);
    transmit(r);
    const auto interval = std::chrono::duration<double>(timeout_s_ / (retries_ + 1));
    r.next_send = now + std::chrono::duration_cast<Clock::duration>(interval);
}

void Client::transmit(Request& r) {
    const Server& s = servers_[r.server];
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = s.addr_be;
    to.sin_port = htons(r.accounting ? s.acct_port : s.port);
    if (r.wire.empty()) {
        ++counters_.send_errors;  // oversized packet: it times out
    } else if (::sendto(fd_, r.wire.data(), r.wire.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
        ++counters_.send_errors;  // e.g. ECONNREFUSED from an earlier ICMP: the timer retries
    }
    if (r.sends++ == 0)
        ++counters_.sent;
    else
        ++counters_.retransmits;
}

void Client::finish(Handle h, Request& r) {
    (void)h;
    r.done = true;
    by_id_.erase(r.pkt.id);
}

void Client::on_datagram(std::span<const uint8_t> d, uint32_t from_be, uint16_t from_port) {
    if (d.size() < kHeaderLen) {
        ++counters_.dropped_malformed;
        return;
    }
    auto it = by_id_.find(d[1]);
    if (it == by_id_.end()) {
        ++counters_.dropped_unknown;
        return;
    }
    const Handle h = it->second;
    Request& r = reqs_.at(h);
    const Server& s = servers_[r.server];
    if (from_be != s.addr_be || from_port != (r.accounting ? s.acct_port : s.port)) {
        ++counters_.dropped_unknown;
        return;
    }
    DecodeError err = DecodeError::NONE;
    auto p = decode_reply(d, r.req_auth, s.secret->bytes(), &err);
    if (!p) {
        if (err == DecodeError::BAD_AUTHENTICATOR)
            ++counters_.dropped_bad_auth;
        else if (err == DecodeError::BAD_MESSAGE_AUTH)
            ++counters_.dropped_bad_msg_auth;
        else
            ++counters_.dropped_malformed;
        return;
    }
    const bool ok = r.accounting ? p->code == Code::ACCOUNTING_RESPONSE
                                 : (p->code == Code::ACCESS_ACCEPT || p->code == Code::ACCESS_REJECT ||
                                    p->code == Code::ACCESS_CHALLENGE);
    if (!ok) {
        ++counters_.dropped_bad_code;
        return;
    }
    ++counters_.replies;
    preferred_ = r.server;
    r.result.status = Result::Status::REPLY;
    r.result.reply = std::move(*p);
    r.result.request_auth = r.req_auth;
    r.result.secret = s.secret;
    finish(h, r);
}

void Client::poll(Clock::time_point now) {
    uint8_t buf[kMaxPacketLen + 1];
    for (;;) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;  // EAGAIN, or an ICMP error reported on the socket: timers handle it
        }
        if (static_cast<size_t>(n) > kMaxPacketLen) {
            ++counters_.dropped_malformed;
            continue;
        }
        on_datagram(std::span<const uint8_t>(buf, static_cast<size_t>(n)), from.sin_addr.s_addr, ntohs(from.sin_port));
    }

    for (auto& [h, r] : reqs_) {
        if (r.done) continue;
        if (r.queued) {
            uint8_t id = 0;
            if (!alloc_id(id)) continue;  // all 256 in use: stays queued
            r.pkt.id = id;
            by_id_[id] = h;
            r.queued = false;
            start_on_server(r, now);
            continue;
        }
        if (now >= r.server_deadline) {
            // This server had its chance: fail over, or give up after the last one.
            if (++r.servers_tried >= servers_.size()) {
                ++counters_.timeouts;
                r.result.status = Result::Status::TIMEOUT;
                finish(h, r);
                continue;
            }
            ++counters_.failovers;
            r.server = (r.server + 1) % servers_.size();
            start_on_server(r, now);
            continue;
        }
        if (now >= r.next_send && r.sends <= retries_) {
            transmit(r);
            const auto interval = std::chrono::duration<double>(timeout_s_ / (retries_ + 1));
            r.next_send = now + std::chrono::duration_cast<Clock::duration>(interval);
        }
    }
}

std::optional<Result> Client::take(Handle h) {
    auto it = reqs_.find(h);
    if (it == reqs_.end() || !it->second.done) return std::nullopt;
    Result res = std::move(it->second.result);
    reqs_.erase(it);
    return res;
}

void Client::cancel(Handle h) {
    auto it = reqs_.find(h);
    if (it == reqs_.end()) return;
    if (!it->second.done && !it->second.queued) by_id_.erase(it->second.pkt.id);
    reqs_.erase(it);
}

}  // namespace espgw::radius

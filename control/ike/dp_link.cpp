#include "control/ike/dp_link.hpp"

#include "control/ike/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace espgw::ike {

using namespace agent;
using SteadyClock = std::chrono::steady_clock;

namespace {
constexpr auto kCallTimeout = std::chrono::seconds(5);
constexpr auto kRespawnDelay = std::chrono::seconds(1);
}  // namespace

DpLink::DpLink(std::string prefix, uint32_t grace_s) : prefix_(std::move(prefix)), grace_s_(grace_s) { spawn(); }

DpLink::~DpLink() {
    if (fd_ >= 0) close(fd_);  // the agent sees the socket close and exits; the SAs stay
    if (pid_ > 0) {
        for (int i = 0; i < 50; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
            usleep(20000);
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

void DpLink::spawn() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw std::runtime_error(std::string("socketpair: ") + std::strerror(errno));
    const pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        close(sv[0]);
        fcntl(sv[1], F_SETFD, 0);  // the agent's end survives exec; nothing else of ours does
        if (sv[1] > 3) close_range(3, static_cast<unsigned>(sv[1] - 1), 0);
        close_range(static_cast<unsigned>(sv[1] + 1), ~0u, 0);
        const std::string sfd = std::to_string(sv[1]), sg = std::to_string(grace_s_);
        const char* argv[] = {"espgw-ike", "--dp-agent", prefix_.c_str(), "--agent-fd", sfd.c_str(),
                              "--agent-grace", sg.c_str(), nullptr};
        execv("/proc/self/exe", const_cast<char* const*>(argv));
        _exit(127);
    }
    close(sv[1]);
    fd_ = sv[0];
    pid_ = pid;
    attached_ = false;
    log_info("dataplane agent started (pid {}) for espgw-dp file prefix {}", pid_, prefix_);
}

void DpLink::agent_gone(const char* why) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    pid_ = 0;
    attached_ = false;
    inbox_.clear();
    next_spawn_ = SteadyClock::now() + kRespawnDelay;
    log_warn("dataplane agent lost ({}): restarting it; {} CHILD_SA pair(s) will be re-installed", why,
             records_.size());
}

bool DpLink::call(const Writer& w, Msg reply, uint32_t id, std::vector<uint8_t>& out) {
    if (fd_ < 0 || !attached_) return false;
    if (!send_msg(fd_, w)) {
        agent_gone("socket closed");
        return false;
    }
    const auto deadline = SteadyClock::now() + kCallTimeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
        if (left <= 0) {
            agent_gone("no answer within 5 s");
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        std::vector<uint8_t> msg;
        const int r = recv_msg(fd_, msg, false);
        if (r == 0) {
            agent_gone("socket closed");
            return false;
        }
        if (r < 0) continue;
        Reader rd(msg);
        if (rd.type() == reply && rd.u32() == id) {
            out = std::move(msg);
            return true;
        }
        inbox_.push_back(std::move(msg));  // punts, expiries, HELLO: handled in poll_once
    }
}

ChildSaKeys DpLink::copy(const ChildSaKeys& k) {
    ChildSaKeys c;
    c.encr_i = crypto::SecretBytes(k.encr_i.bytes());
    c.integ_i = crypto::SecretBytes(k.integ_i.bytes());
    c.encr_r = crypto::SecretBytes(k.encr_r.bytes());
    c.integ_r = crypto::SecretBytes(k.integ_r.bytes());
    return c;
}

bool DpLink::install(const ChildSaInfo& info, const ChildSaKeys& keys) {
    const uint32_t id = next_id_++;
    Writer w(Msg::INSTALL);
    w.u32(id).info(info).keys(keys);
    std::vector<uint8_t> reply;
    if (!call(w, Msg::RESULT, id, reply)) {
        log_warn("{}: CHILD_SA {:08x} not installed: the dataplane agent is not attached to espgw-dp",
                 info.connection, info.spi_in);
        return false;
    }
    Reader rd(reply);
    rd.type();
    rd.u32();
    if (rd.u8() == 0) return false;
    records_[info.spi_in] = Record{info, copy(keys), false};
    return true;
}

bool DpLink::rekey(uint32_t old_spi_in, uint32_t old_spi_out, const ChildSaInfo& info, const ChildSaKeys& keys) {
    const uint32_t id = next_id_++;
    Writer w(Msg::REKEY);
    w.u32(id).u32(old_spi_in).u32(old_spi_out).info(info).keys(keys);
    std::vector<uint8_t> reply;
    if (!call(w, Msg::RESULT, id, reply)) return false;
    Reader rd(reply);
    rd.type();
    rd.u32();
    if (rd.u8() == 0) return false;
    if (auto it = records_.find(old_spi_in); it != records_.end()) it->second.superseded = true;
    records_[info.spi_in] = Record{info, copy(keys), false};
    return true;
}

void DpLink::remove(uint32_t spi_in, uint32_t spi_out) {
    records_.erase(spi_in);
    if (fd_ < 0 || !attached_) return;  // a re-attached agent never gets it back
    Writer w(Msg::REMOVE);
    w.u32(spi_in).u32(spi_out);
    if (!send_msg(fd_, w)) agent_gone("socket closed");
}

SaUsage DpLink::usage(uint32_t spi_in, uint32_t spi_out) {
    const uint32_t id = next_id_++;
    Writer w(Msg::USAGE);
    w.u32(id).u32(spi_in).u32(spi_out);
    std::vector<uint8_t> reply;
    SaUsage u;
    if (!call(w, Msg::USAGE_REPLY, id, reply)) return u;
    Reader rd(reply);
    rd.type();
    rd.u32();
    u.in_bytes = rd.u64();
    u.out_bytes = rd.u64();
    u.in_packets = rd.u64();
    u.out_packets = rd.u64();
    return rd.failed() ? SaUsage{} : u;
}

std::map<std::pair<uint32_t, bool>, ChildCounters> DpLink::counters() {
    std::map<std::pair<uint32_t, bool>, ChildCounters> out;
    const uint32_t id = next_id_++;
    Writer w(Msg::COUNTERS);
    w.u32(id);
    std::vector<uint8_t> reply;
    if (!call(w, Msg::COUNTERS_REPLY, id, reply)) return out;
    Reader rd(reply);
    rd.type();
    rd.u32();
    const uint32_t n = rd.u32();
    for (uint32_t i = 0; i < n && !rd.failed(); ++i) {
        const uint32_t spi = rd.u32();
        const bool in = rd.u8() != 0;
        const uint64_t packets = rd.u64(), bytes = rd.u64(), seq = rd.u64();
        out[{spi, in}] = ChildCounters{packets, bytes};
        if (!in) {
            SeqWatch& s = seq_[spi];
            s.step = seq > s.seq ? seq - s.seq : s.step;
            s.seq = seq;
        }
    }
    return out;
}

void DpLink::send(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) {
    if (fd_ < 0 || !attached_) return;  // IKE retransmits once the dataplane is back
    Writer w(Msg::SEND);
    w.endpoint(local).endpoint(remote).bytes(msg);
    if (!send_msg(fd_, w)) agent_gone("socket closed");
}

void DpLink::send_nat_keepalive(const Endpoint& local, const Endpoint& remote) {
    if (fd_ < 0 || !attached_) return;
    Writer w(Msg::KEEPALIVE);
    w.endpoint(local).endpoint(remote);
    if (!send_msg(fd_, w)) agent_gone("socket closed");
}

void DpLink::replay() {
    // Pairs whose outbound SA a rekey took over keep only their inbound SA, and only
    // until their delete: not worth re-installing.
    size_t ok = 0, failed = 0;
    std::vector<uint32_t> current;
    for (const auto& [spi, rec] : records_)
        if (!rec.superseded) current.push_back(spi);
    for (uint32_t spi : current) {
        Record& rec = records_.at(spi);
        // RFC 4303 §3.3.3: never reuse a sequence number under the same key. The old
        // espgw-dp's last one is known up to one sampling interval: continue well
        // above it (twice the last interval's use plus 2^16).
        ChildSaInfo info = rec.info;
        if (auto it = seq_.find(info.spi_out); it != seq_.end())
            info.initial_seq_out = it->second.seq + 2 * it->second.step + (1u << 16);
        else
            info.initial_seq_out = 1u << 20;  // never sampled (installed < 1 s before the restart)
        const uint32_t id = next_id_++;
        Writer w(Msg::INSTALL);
        w.u32(id).info(info).keys(rec.keys);
        std::vector<uint8_t> reply;
        if (!call(w, Msg::RESULT, id, reply)) return;  // agent gone again: next HELLO replays
        Reader rd(reply);
        rd.type();
        rd.u32();
        if (rd.u8()) {
            ++ok;
        } else {
            ++failed;
            log_warn("{}: re-installing CHILD_SA {:08x} into the restarted dataplane failed", rec.info.connection, spi);
        }
    }
    ++reinstalls_;
    log_info("espgw-dp is back: re-installed {} CHILD_SA pair(s){}", ok,
             failed ? fmt::format(", {} refused", failed) : std::string());
}

void DpLink::dispatch(const std::vector<uint8_t>& msg, const Handler* h) {
    Reader rd(msg);
    switch (rd.type()) {
        case Msg::HELLO: {
            const uint32_t gen = rd.u32();
            attached_ = true;
            log_info("dataplane agent attached to espgw-dp (generation {})", gen);
            // The first HELLO of the first agent finds a dataplane we never wrote to;
            // every later one (espgw-dp or the agent restarted) gets everything again.
            if (hello_seen_ && !records_.empty()) replay();
            hello_seen_ = true;
            break;
        }
        case Msg::PUNT: {
            const Endpoint l = rd.endpoint(), r = rd.endpoint();
            const auto m = rd.bytes();
            if (!rd.failed() && h) (*h)(l, r, m);
            break;
        }
        case Msg::EXPIRY: {
            const uint32_t spi = rd.u32();
            const bool hard = rd.u8() != 0;
            if (!rd.failed() && listener_) listener_->on_child_expired(spi, hard);
            break;
        }
        default:
            break;  // a late reply to a call that timed out
    }
}

void DpLink::poll_once(int timeout_ms, const Handler& h) {
    while (!inbox_.empty()) {
        std::vector<uint8_t> m = std::move(inbox_.front());
        inbox_.pop_front();
        dispatch(m, &h);
    }
    if (fd_ < 0) {
        if (SteadyClock::now() >= next_spawn_) {
            if (geteuid() != 0) {
                log_warn("the dataplane agent cannot be restarted without root (espgw-ike --user): exiting for the "
                         "service manager to restart espgw-ike");
                std::exit(1);
            }
            try {
                spawn();
            } catch (const std::exception& e) {
                log_warn("cannot restart the dataplane agent: {}", e.what());
                next_spawn_ = SteadyClock::now() + kRespawnDelay;
            }
        }
        usleep(static_cast<useconds_t>(timeout_ms) * 1000);
        return;
    }
    // Sample the outbound sequence numbers once a second (see replay()).
    if (attached_ && !records_.empty() && SteadyClock::now() >= next_sample_) {
        next_sample_ = SteadyClock::now() + std::chrono::seconds(1);
        counters();
        for (auto it = seq_.begin(); it != seq_.end();) {
            bool live = false;
            for (const auto& [s, r] : records_) live |= r.info.spi_out == it->first;
            it = live ? std::next(it) : seq_.erase(it);
        }
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return;
    for (int k = 0; k < 256; ++k) {
        std::vector<uint8_t> msg;
        const int r = recv_msg(fd_, msg, false);
        if (r == 0) {
            agent_gone("it exited");
            return;
        }
        if (r < 0) return;
        dispatch(msg, &h);
        if (fd_ < 0) return;  // a replay found the agent gone again
    }
}

}  // namespace espgw::ike

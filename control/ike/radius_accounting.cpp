#include "control/ike/radius_accounting.hpp"

#include "control/ike/eap_radius.hpp"
#include "control/ike/log.hpp"

#include <fmt/format.h>

#include <ctime>

namespace espgw::ike {

RadiusAccounting::RadiusAccounting(std::shared_ptr<radius::Client> client, uint32_t interim_s)
    : client_(std::move(client)), interim_s_(interim_s) {}

std::string RadiusAccounting::start(uint64_t key, const std::string& user, const std::string& nas_identifier,
                                    const Endpoint& local, const Endpoint& remote, std::optional<uint32_t> framed_ip,
                                    Clock::time_point now, std::vector<radius::Bytes> classes) {
    if (auto it = sessions_.find(key); it != sessions_.end()) return it->second.id;
    Session s;
    // RFC 2866 §5.5: unique per NAS; wall-clock start, our IKE SPI and a serial.
    s.id = fmt::format("{:08X}-{:08X}-{}", static_cast<uint32_t>(std::time(nullptr)), static_cast<uint32_t>(key),
                       ++serial_);
    s.user = user;
    s.nas_identifier = nas_identifier;
    s.local = local;
    s.remote = remote;
    s.framed_ip = framed_ip;
    s.classes = std::move(classes);
    s.started = now;
    if (interim_s_) s.next_interim = now + std::chrono::seconds(interim_s_);
    send(s, radius::kAcctStart, nullptr, 0, now);
    ++counters_.starts;
    const std::string id = s.id;
    sessions_.emplace(key, std::move(s));
    return id;
}

void RadiusAccounting::stop(uint64_t key, const SaUsage& usage, uint32_t terminate_cause, Clock::time_point now) {
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return;
    send(it->second, radius::kAcctStop, &usage, terminate_cause, now);
    ++counters_.stops;
    log_info("radius accounting: stop {} session {} in {} B / {} pkts, out {} B / {} pkts", it->second.user,
             it->second.id, usage.in_bytes, usage.in_packets, usage.out_bytes, usage.out_packets);
    sessions_.erase(it);
}

void RadiusAccounting::rekey(uint64_t old_key, uint64_t new_key) {
    auto it = sessions_.find(old_key);
    if (it == sessions_.end() || old_key == new_key) return;
    Session s = std::move(it->second);
    sessions_.erase(it);
    sessions_.emplace(new_key, std::move(s));
}

void RadiusAccounting::tick(Clock::time_point now, const UsageFn& usage) {
    for (auto& [key, s] : sessions_) {
        if (now < s.next_interim) continue;
        const SaUsage u = usage ? usage(key) : SaUsage{};
        send(s, radius::kAcctInterim, &u, 0, now);
        ++counters_.interims;
        s.next_interim = now + std::chrono::seconds(interim_s_);
    }
    collect(now);
}

void RadiusAccounting::collect(Clock::time_point now) {
    if (inflight_.empty()) return;
    client_->poll(now);
    std::erase_if(inflight_, [&](const auto& f) {
        auto r = client_->take(f.first);
        if (!r) return false;
        if (r->status == radius::Result::Status::REPLY) {
            ++counters_.answered;
            if (f.second.starts_with("Accounting-"))
                log_info("radius accounting: {} answered by {}", f.second, r->server);
        } else {
            ++counters_.timeouts;
            log_warn("radius accounting: {} not answered by any server (RADIUS timeout)", f.second);
        }
        return true;
    });
}

void RadiusAccounting::send(const Session& s, uint32_t status, const SaUsage* usage, uint32_t cause,
                            Clock::time_point now) {
    using namespace radius;
    Packet p;
    EapRadiusParams nas;
    nas.nas_identifier = s.nas_identifier;
    nas.local = s.local;
    nas.remote = s.remote;
    EapRadiusServer::add_nas_attributes(p, nas, s.user);
    p.add_u32(attr::ACCT_STATUS_TYPE, status);
    p.add_string(attr::ACCT_SESSION_ID, s.id);
    p.add_u32(attr::ACCT_AUTHENTIC, kAcctAuthRadius);
    if (s.framed_ip) p.add_u32(attr::FRAMED_IP_ADDRESS, *s.framed_ip);
    for (const auto& c : s.classes)
        if (!c.empty() && c.size() <= kMaxAttrValue) p.add(attr::CLASS, c);  // RFC 2865 §5.25: echoed unmodified
    if (status != kAcctStart) {
        p.add_u32(attr::ACCT_SESSION_TIME,
                  static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(now - s.started).count()));
    }
    if (usage) {
        // RFC 2866 §5.3/§5.4, RFC 2869 §5.1/§5.2: octets modulo 2^32 plus the wraps.
        p.add_u32(attr::ACCT_INPUT_OCTETS, static_cast<uint32_t>(usage->in_bytes));
        p.add_u32(attr::ACCT_INPUT_GIGAWORDS, static_cast<uint32_t>(usage->in_bytes >> 32));
        p.add_u32(attr::ACCT_OUTPUT_OCTETS, static_cast<uint32_t>(usage->out_bytes));
        p.add_u32(attr::ACCT_OUTPUT_GIGAWORDS, static_cast<uint32_t>(usage->out_bytes >> 32));
        p.add_u32(attr::ACCT_INPUT_PACKETS, static_cast<uint32_t>(usage->in_packets));
        p.add_u32(attr::ACCT_OUTPUT_PACKETS, static_cast<uint32_t>(usage->out_packets));
    }
    if (status == kAcctStop) p.add_u32(attr::ACCT_TERMINATE_CAUSE, cause ? cause : kTerminateUserRequest);
    const char* what = status == kAcctStart ? "Start" : status == kAcctStop ? "Stop" : "Interim-Update";
    inflight_.emplace_back(client_->send(std::move(p), true, now), fmt::format("{} {} session {}", what, s.user, s.id));
}

void RadiusAccounting::nas_on(const std::string& nas_identifier, uint32_t nas_ip, Clock::time_point now) {
    send_nas_state(radius::kAcctOn, nas_identifier, nas_ip, now);
    ++counters_.ons;
}

void RadiusAccounting::nas_off(const std::string& nas_identifier, uint32_t nas_ip, Clock::time_point now) {
    send_nas_state(radius::kAcctOff, nas_identifier, nas_ip, now);
    ++counters_.offs;
}

void RadiusAccounting::send_nas_state(uint32_t status, const std::string& nas_identifier, uint32_t nas_ip,
                                      Clock::time_point now) {
    using namespace radius;
    Packet p;
    // RFC 2866 §5.1: no user and no session; RFC 2865 §4.1 still asks for a NAS-Identifier
    // or NAS-IP-Address, and §5.5 for an Acct-Session-Id in every Accounting-Request.
    if (!nas_identifier.empty()) p.add_string(attr::NAS_IDENTIFIER, nas_identifier);
    if (nas_ip) p.add_u32(attr::NAS_IP_ADDRESS, nas_ip);
    p.add_u32(attr::ACCT_STATUS_TYPE, status);
    p.add_string(attr::ACCT_SESSION_ID,
                 fmt::format("{:08X}-NAS-{}", static_cast<uint32_t>(std::time(nullptr)), ++serial_));
    p.add_u32(attr::ACCT_AUTHENTIC, kAcctAuthRadius);
    if (status == kAcctOff) p.add_u32(attr::ACCT_TERMINATE_CAUSE, kTerminateAdminReboot);
    const char* what = status == kAcctOn ? "Accounting-On" : "Accounting-Off";
    inflight_.emplace_back(client_->send(std::move(p), true, now), fmt::format("{} of NAS {}", what, nas_identifier));
}

}  // namespace espgw::ike

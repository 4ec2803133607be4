#include "control/ike/radius_service.hpp"

#include "control/ike/log.hpp"

#include <poll.h>

#include <algorithm>

namespace espgw::ike {

namespace {

// Addresses and ports only: the secrets stay out of the log.
void log_servers(const char* what, const RadiusConfig& cfg) {
    std::string list;
    for (const auto& s : cfg.client.servers)
        list += fmt::format("{}{}:{}/{}", list.empty() ? "" : ", ", s.address, s.port, s.acct_port);
    log_info("radius: {}{} server(s) {}, timeout {}s, {} retries, accounting {}", what, cfg.client.servers.size(), list,
             cfg.client.timeout_s, cfg.client.retries, cfg.accounting ? "on" : "off");
}

bool same_servers(const radius::ClientConfig& a, const radius::ClientConfig& b) {
    if (a.servers.size() != b.servers.size()) return false;
    for (size_t i = 0; i < a.servers.size(); ++i) {
        const auto& x = a.servers[i];
        const auto& y = b.servers[i];
        if (x.address != y.address || x.port != y.port || x.acct_port != y.acct_port) return false;
        const auto xs = x.secret->bytes();
        const auto ys = y.secret->bytes();
        if (xs.size() != ys.size() || !std::equal(xs.begin(), xs.end(), ys.begin())) return false;
    }
    return true;
}

}  // namespace

RadiusService::RadiusService(const RadiusConfig& cfg, uint32_t nas_ip)
    : cfg_(cfg), nas_ip_(nas_ip), client_(std::make_shared<radius::Client>(cfg.client)) {
    if (cfg.accounting) acct_ = std::make_unique<RadiusAccounting>(client_, cfg.interim_s);
    log_servers("", cfg);
}

std::optional<std::string> RadiusService::change_refused(const RadiusConfig& next) const {
    const size_t open = acct_ && cfg_.accounting ? acct_->sessions() : 0;
    if (!next.accounting && open)
        return fmt::format("radius.accounting turned off while {} accounting session(s) are open: restart to apply",
                           open);
    return std::nullopt;
}

void RadiusService::reconfigure(const RadiusConfig& next, Clock::time_point now) {
    const bool servers_changed = !same_servers(cfg_.client, next.client);
    client_->reconfigure(next.client, now);
    if (cfg_.accounting && !next.accounting) {
        accounting_off(now);  // the servers learn that no session of ours is counted any more
    } else if (next.accounting) {
        if (!acct_) acct_ = std::make_unique<RadiusAccounting>(client_, next.interim_s);
        acct_->set_interim(next.interim_s);
        // RFC 2866 §5.1: new servers (or accounting just turned on) hear Accounting-On
        // before the first Start.
        if (servers_changed || !cfg_.accounting) on_due_ = true;
    }
    cfg_ = next;
    log_servers("reloaded: ", cfg_);
}

void RadiusService::accounting_off(Clock::time_point now) {
    if (!acct_ || !cfg_.accounting) return;
    acct_->nas_off(cfg_.nas_identifier, nas_ip_, now);
    on_due_ = true;
    log_info("radius accounting: Accounting-Off sent for NAS {}", cfg_.nas_identifier);
}

void RadiusService::collect(Clock::time_point now) {
    if (acct_) acct_->collect(now);
}

void RadiusService::stop(Clock::duration max_wait) {
    auto now = Clock::now();
    accounting_off(now);
    const auto deadline = now + max_wait;
    while (in_flight() && (now = Clock::now()) < deadline) {
        pollfd p{client_->fd(), POLLIN, 0};
        ::poll(&p, 1, 20);  // the client's own timers retransmit on the next collect()
        collect(Clock::now());
    }
    if (in_flight())
        log_warn("radius accounting: {} request(s) unanswered after {} ms; stopping anyway", in_flight(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(max_wait).count());
}

std::unique_ptr<EapServer> RadiusService::make_eap_server(const ConnectionConfig& conn, const Endpoint& local,
                                                          const Endpoint& remote) const {
    EapRadiusParams p;
    p.client = client_;
    p.nas_identifier = conn.nas_identifier.empty() ? cfg_.nas_identifier : conn.nas_identifier;
    p.local = local;
    p.remote = remote;
    if (acct_) {
        std::weak_ptr<std::map<std::string, std::vector<radius::Bytes>>> w = classes_;
        p.on_accept = [w](const std::string& user, std::vector<radius::Bytes> classes) {
            if (auto m = w.lock()) (*m)[user] = std::move(classes);
        };
    }
    return std::make_unique<EapRadiusServer>(std::move(p));
}

void RadiusService::on_established(uint64_t key, const std::string& user, const ConnectionConfig& conn,
                                   const Endpoint& local, const Endpoint& remote, std::optional<uint32_t> virtual_ip,
                                   Clock::time_point now) {
    if (!acct_ || !cfg_.accounting || acct_->active(key)) return;
    const std::string& nas = conn.nas_identifier.empty() ? cfg_.nas_identifier : conn.nas_identifier;
    std::vector<radius::Bytes> classes;
    if (auto it = classes_->find(user); it != classes_->end()) {
        classes = std::move(it->second);
        classes_->erase(it);
    }
    const std::string id = acct_->start(key, user, nas, local, remote, virtual_ip, now, std::move(classes));
    log_info("radius accounting: start {} session {} from {}", user, id, to_string(remote));
}

void RadiusService::on_ended(uint64_t key, const SaUsage& usage, uint32_t terminate_cause, Clock::time_point now) {
    if (acct_) acct_->stop(key, usage, terminate_cause, now);
}

void RadiusService::on_rekeyed(uint64_t old_key, uint64_t new_key) {
    if (acct_) acct_->rekey(old_key, new_key);
}

void RadiusService::tick(Clock::time_point now, const RadiusAccounting::UsageFn& usage) {
    if (acct_ && cfg_.accounting && on_due_) {
        acct_->nas_on(cfg_.nas_identifier, nas_ip_, now);
        on_due_ = false;
        log_info("radius accounting: Accounting-On sent for NAS {}", cfg_.nas_identifier);
    }
    if (acct_) acct_->tick(now, usage);
    client_->poll(now);  // also drains late or stray replies (counted, dropped)
}

}  // namespace espgw::ike

#include "control/ike/radius_service.hpp"

#include "control/ike/log.hpp"

namespace espgw::ike {

RadiusService::RadiusService(const RadiusConfig& cfg)
    : cfg_(cfg), client_(std::make_shared<radius::Client>(cfg.client)) {
    if (cfg.accounting) acct_ = std::make_unique<RadiusAccounting>(client_, cfg.interim_s);
    // Addresses and ports only: the secrets stay out of the log.
    std::string list;
    for (const auto& s : cfg.client.servers)
        list += fmt::format("{}{}:{}/{}", list.empty() ? "" : ", ", s.address, s.port, s.acct_port);
    log_info("radius: {} server(s) {}, timeout {}s, {} retries, accounting {}", cfg.client.servers.size(), list,
             cfg.client.timeout_s, cfg.client.retries, cfg.accounting ? "on" : "off");
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
    if (!acct_ || acct_->active(key)) return;
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
    if (acct_) acct_->tick(now, usage);
    client_->poll(now);  // also drains late or stray replies (counted, dropped)
}

}  // namespace espgw::ike

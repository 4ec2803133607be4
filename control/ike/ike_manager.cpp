#include "control/ike/ike_manager.hpp"

#include "control/ike/log.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace espgw::ike {

std::string IkeSa::who() const {
    return fmt::format("peer {} id {}", to_string(remote), peer_id.any || peer_id.data.empty() ? "-" : peer_id.to_string());
}

IkeManager::IkeManager(const IkeConfig& config, Transport& transport, SaSink& sink)
    : config_(config), transport_(transport), sink_(sink), ctx_{config_, pools_, sink_} {
    for (const auto& [name, p] : config_.pools) pools_.emplace(name, AddressPool(name, p.cidr));
}

const IkeSa* IkeManager::find(uint64_t spi_r) const {
    auto it = sas_.find(spi_r);
    return it == sas_.end() ? nullptr : it->second.get();
}

void IkeManager::on_message(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data) {
    ++counters_.received;
    Message m;
    const ParseError pe = parse_message(data, m);
    if (pe != ParseError::OK) {
        ++counters_.parse_errors;
        log_info("peer {}: dropped malformed message: {}", to_string(remote), name(pe));
        return;
    }
    try {
        if (m.header.is_response()) return;  // we have no requests outstanding (responder only, yet)
        if (m.header.exchange == ExchangeType::IKE_SA_INIT) {
            handle_init(local, remote, data, m);
            return;
        }
        auto it = sas_.find(m.header.spi_r);
        if (it == sas_.end() || it->second->spi_i != m.header.spi_i) {
            ++counters_.unknown_spi;  // §2.21.4: may answer INVALID_IKE_SPI; dropped for now
            return;
        }
        handle_encrypted(*it->second, local, remote, data, m);
    } catch (const std::exception& e) {
        log_warn("peer {}: internal error handling message: {}", to_string(remote), e.what());
    }
}

void IkeManager::handle_init(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data,
                             const Message& m) {
    if (m.header.spi_r != 0 || m.header.message_id != 0) return;
    const auto key = std::make_pair(m.header.spi_i, remote);
    if (auto it = half_open_.find(key); it != half_open_.end()) {
        // §2.1: a retransmitted IKE_SA_INIT gets the same response.
        auto sa = sas_.find(it->second);
        if (sa != sas_.end() && Bytes(data.begin(), data.end()) == sa->second->init_request) {
            ++counters_.retransmits_answered;
            transport_.send(local, remote, sa->second->last_response);
        }
        return;
    }
    auto sa = std::make_unique<IkeSa>();
    sa->spi_i = m.header.spi_i;
    do {
        if (RAND_bytes(reinterpret_cast<uint8_t*>(&sa->spi_r), sizeof sa->spi_r) != 1)
            throw std::runtime_error("RAND_bytes");
    } while (sa->spi_r == 0 || sas_.count(sa->spi_r));
    sa->local = local;
    sa->remote = remote;
    sa->init_request.assign(data.begin(), data.end());

    Exchange ex;
    ex.request = &m;
    std::vector<std::unique_ptr<Task>> tasks;
    tasks.push_back(make_ike_init(ctx_));
    tasks.push_back(make_ike_natd(ctx_));
    bool ok = true;
    for (auto& t : tasks)
        if (ok && t->process_r(*sa, ex) == TaskStatus::FAILED) ok = false;
    for (auto& t : tasks)
        if (ok && t->build_r(*sa, ex) == TaskStatus::FAILED) ok = false;
    Header h;
    h.spi_i = sa->spi_i;
    h.exchange = ExchangeType::IKE_SA_INIT;
    h.flags = FLAG_RESPONSE;
    h.message_id = 0;
    if (!ok) {
        // §1.2, §2.6: errors in IKE_SA_INIT are answered unencrypted with SPIr = 0 and
        // no state is kept.
        const NotifyType err = ex.error.value_or(NotifyType::NO_PROPOSAL_CHOSEN);
        transport_.send(local, remote, encode_message(h, {make_notify(err, ex.error_data)}));
        ++counters_.responses_sent;
        return;
    }
    h.spi_r = sa->spi_r;
    sa->init_response = encode_message(h, ex.response);
    sa->last_response = sa->init_response;
    sa->last_response_id = 0;
    sa->expected_msg_id = 1;
    sa->state = IkeSaState::INIT_DONE;
    transport_.send(local, remote, sa->init_response);
    ++counters_.responses_sent;
    log_info("{}: IKE_SA_INIT answered, {}{}", sa->who(), to_string(sa->ike_alg),
             sa->nat_remote ? ", remote host is behind NAT" : "");
    half_open_[key] = sa->spi_r;
    const uint64_t spi_r = sa->spi_r;
    sas_[spi_r] = std::move(sa);
}

void IkeManager::respond(IkeSa& sa, const Header& req, std::vector<Payload> payloads, bool encrypt) {
    Header h;
    h.spi_i = sa.spi_i;
    h.spi_r = sa.spi_r;
    h.exchange = req.exchange;
    h.flags = FLAG_RESPONSE | (sa.initiator ? FLAG_INITIATOR : 0);
    h.message_id = req.message_id;
    const bool i = sa.initiator;
    const SkKeys keys{i ? sa.keys.sk_ei.bytes() : sa.keys.sk_er.bytes(), i ? sa.keys.sk_ai.bytes() : sa.keys.sk_ar.bytes()};
    sa.last_response = encrypt ? encrypt_message(h, payloads, sa.ike_alg, keys) : encode_message(h, payloads);
    sa.last_response_id = req.message_id;
    transport_.send(sa.local, sa.remote, sa.last_response);
    ++counters_.responses_sent;
}

void IkeManager::handle_encrypted(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                  std::span<const uint8_t> data, const Message& m) {
    if (sa.state == IkeSaState::CREATED) return;
    // §2.2: a retransmitted request gets the stored response again.
    if (sa.last_response_id && m.header.message_id == *sa.last_response_id) {
        ++counters_.retransmits_answered;
        transport_.send(local, remote, sa.last_response);
        return;
    }
    if (m.header.message_id != sa.expected_msg_id) {
        ++counters_.bad_msg_id;
        return;
    }
    const auto* sk = m.get<SkPayload>(PayloadType::SK);
    if (!sk || m.payloads.size() != 1) {
        ++counters_.parse_errors;
        return;
    }
    const bool i = sa.initiator;
    const SkKeys keys{i ? sa.keys.sk_er.bytes() : sa.keys.sk_ei.bytes(), i ? sa.keys.sk_ar.bytes() : sa.keys.sk_ai.bytes()};
    Message inner;
    inner.header = m.header;
    ParseError pe = ParseError::OK;
    const SkError se = decrypt_message(data, *sk, sa.ike_alg, keys, inner.payloads, pe);
    if (se != SkError::OK) {
        // §2.21.2: messages failing integrity are dropped silently.
        ++counters_.icv_failures;
        log_info("{}: dropped message: {}", sa.who(), name(se));
        return;
    }
    sa.expected_msg_id = m.header.message_id + 1;
    if (pe != ParseError::OK) {
        ++counters_.parse_errors;
        log_info("{}: malformed encrypted payloads: {}", sa.who(), name(pe));
        const NotifyType n = pe == ParseError::UNSUPPORTED_CRITICAL ? NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD
                                                                     : NotifyType::INVALID_SYNTAX;
        respond(sa, m.header, {make_notify(n)}, true);
        return;
    }
    // §2.23: after NAT detection the peer's address/port may change (NAT-T switch to
    // 4500); follow the latest authenticated request.
    sa.local = local;
    sa.remote = remote;

    switch (m.header.exchange) {
        case ExchangeType::IKE_AUTH: {
            if (sa.state != IkeSaState::INIT_DONE) {
                respond(sa, m.header, {make_notify(NotifyType::INVALID_SYNTAX)}, true);
                return;
            }
            forget_half_open(sa.spi_r);
            Exchange ex;
            ex.request = &inner;
            std::vector<std::unique_ptr<Task>> tasks;
            tasks.push_back(make_ike_auth(ctx_));
            tasks.push_back(make_ike_config(ctx_));
            tasks.push_back(make_child_create(ctx_));
            bool ok = true;
            for (auto& t : tasks)
                if (ok && t->process_r(sa, ex) == TaskStatus::FAILED) ok = false;
            for (auto& t : tasks)
                if (ok && t->build_r(sa, ex) == TaskStatus::FAILED) ok = false;
            if (!ok) {
                respond(sa, m.header, {make_notify(ex.error.value_or(NotifyType::AUTHENTICATION_FAILED), ex.error_data)},
                        true);
                remove_sa(sa.spi_r);
                return;
            }
            respond(sa, m.header, std::move(ex.response), true);
            return;
        }
        case ExchangeType::INFORMATIONAL: {
            // §1.4.1: a Delete for the IKE SA is answered with an empty INFORMATIONAL
            // and ends the IKE SA with its CHILD_SAs; ESP deletes are answered with
            // the deleted pairs' inbound SPIs. An empty request is a liveness check.
            bool delete_ike = false;
            std::vector<Bytes> child_spis;
            for (const auto& p : inner.payloads) {
                const auto* d = std::get_if<DeletePayload>(&p.body);
                if (!d) continue;
                if (d->protocol == ProtocolId::IKE) delete_ike = true;
                if (d->protocol != ProtocolId::ESP || d->spi_size != 4) continue;
                for (const auto& spi : d->spis) {
                    const uint32_t out = static_cast<uint32_t>(spi[0]) << 24 | static_cast<uint32_t>(spi[1]) << 16 |
                                         static_cast<uint32_t>(spi[2]) << 8 | spi[3];
                    for (auto c = sa.children.begin(); c != sa.children.end(); ++c) {
                        if (c->info.spi_out != out) continue;
                        const uint32_t in = c->info.spi_in;
                        sink_.remove(in, out);
                        child_spis.push_back({static_cast<uint8_t>(in >> 24), static_cast<uint8_t>(in >> 16),
                                              static_cast<uint8_t>(in >> 8), static_cast<uint8_t>(in)});
                        sa.children.erase(c);
                        break;
                    }
                }
            }
            std::vector<Payload> reply;
            if (!delete_ike && !child_spis.empty())
                reply.push_back({PayloadType::DELETE, false, DeletePayload{ProtocolId::ESP, 4, child_spis}});
            respond(sa, m.header, std::move(reply), true);
            if (delete_ike) {
                log_info("{}: IKE SA deleted by peer", sa.who());
                remove_sa(sa.spi_r);
            }
            return;
        }
        case ExchangeType::CREATE_CHILD_SA:
            // Rekeying comes next (child_rekey / ike_rekey tasks); until then refuse.
            respond(sa, m.header, {make_notify(NotifyType::NO_ADDITIONAL_SAS)}, true);
            return;
        default:
            respond(sa, m.header, {make_notify(NotifyType::INVALID_SYNTAX)}, true);
            return;
    }
}

void IkeManager::tick(std::chrono::steady_clock::time_point now) { (void)now; }

void IkeManager::forget_half_open(uint64_t spi_r) {
    // Keyed by the IKE_SA_INIT source, which NAT-T may have changed since: search by value.
    for (auto it = half_open_.begin(); it != half_open_.end(); ++it) {
        if (it->second == spi_r) {
            half_open_.erase(it);
            return;
        }
    }
}

void IkeManager::remove_sa(uint64_t spi_r) {
    auto it = sas_.find(spi_r);
    if (it == sas_.end()) return;
    IkeSa& sa = *it->second;
    for (const auto& c : sa.children) sink_.remove(c.info.spi_in, c.info.spi_out);
    // The virtual IP lease stays reserved for the identity (reused on reconnect).
    forget_half_open(spi_r);
    sas_.erase(it);
}

}  // namespace espgw::ike

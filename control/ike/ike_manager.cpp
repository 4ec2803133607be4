#include "control/ike/ike_manager.hpp"

#include "control/ike/eap_packet.hpp"
#include "control/ike/log.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/task_ike_eap.hpp"
#include "control/ike/task_ike_init_i.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/rand.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>

namespace espgw::ike {

namespace {

/// Our SPI of the IKE SA: the key of IkeManager's table.
uint64_t our_spi(const IkeSa& sa) noexcept { return sa.initiator ? sa.spi_i : sa.spi_r; }

/// One failed EAP conversation counts once, whether it ends with our EAP-Failure, the
/// peer's give-up or a failing Request the peer never answers.
void count_eap_failure(IkeSa& sa, IkeCounters& c) noexcept {
    if (!sa.eap || sa.eap->failure_counted) return;
    sa.eap->failure_counted = true;
    ++c.eap_failures;
}

/// The source address the kernel picks toward `remote_host` (for a wildcard listen
/// address, §2.23 NAT detection needs the real one); 0 when unknown.
uint32_t source_toward(uint32_t remote_host) {
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return 0;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(500);
    to.sin_addr.s_addr = htonl(remote_host);
    sockaddr_in me{};
    socklen_t len = sizeof me;
    uint32_t out = 0;
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0)
        out = ntohl(me.sin_addr.s_addr);
    close(fd);
    return out;
}

constexpr auto RESTART_DELAY = std::chrono::seconds(5);

/// [ike] listen as the NAS-IP-Address of RADIUS Accounting-On/Off (host order); 0 for
/// the wildcard or anything unparsable.
uint32_t nas_ip(const std::string& listen_addr) {
    in_addr a{};
    return inet_pton(AF_INET, listen_addr.c_str(), &a) == 1 ? ntohl(a.s_addr) : 0;
}

// The user name of an IKE SA authenticated by EAP-RADIUS (for accounting), or nullopt.
std::optional<std::string> eap_radius_user(const IkeSa& sa) {
    if (sa.auth_method != "EAP-RADIUS" || sa.user.empty()) return std::nullopt;
    return sa.user;
}

}  // namespace

std::string IkeSa::who() const {
    return fmt::format("peer {} id {}", to_string(remote), peer_id.any || peer_id.data.empty() ? "-" : peer_id.to_string());
}

IkeManager::IkeManager(const IkeConfig& config, Transport& transport, SaSink& sink)
    : config_(config), transport_(transport), sink_(sink), ctx_{config_, pools_, sink_},
      now_(Clock::now()), cookies_(config.cookie_secret_s, now_) {
    ctx_.now = now_;
    for (const auto& [name, p] : config_.pools) pools_.emplace(name, AddressPool(name, p.cidr));
    if (config_.radius) radius_ = std::make_unique<RadiusService>(*config_.radius, nas_ip(config_.listen_addr));
    ctx_.radius = radius_.get();
    if (config_.legacy_algorithms)
        log_warn("[ike] legacy_algorithms is on: 3DES and DH groups 2/5 (MODP_1024/1536) are accepted for legacy "
                 "clients; turn it off once they are gone");
}

const IkeSa* IkeManager::find(uint64_t spi_r) const {
    auto it = sas_.find(spi_r);
    return it == sas_.end() ? nullptr : it->second.get();
}

std::vector<uint64_t> IkeManager::spis() const {
    std::vector<uint64_t> out;
    for (const auto& [spi, sa] : sas_) out.push_back(spi);
    return out;
}

void IkeManager::on_message(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data) {
    ++counters_.received;
    if (Header h; parse_header(data, h) == ParseError::OK && h.next_payload == PayloadType::SKF) {
        // RFC 7383: one fragment of a message (ike_manager_fragments.cpp).
        try {
            on_fragment(local, remote, data);
        } catch (const std::exception& e) {
            log_warn("peer {}: internal error handling a fragment: {}", to_string(remote), e.what());
        }
        return;
    }
    Message m;
    const ParseError pe = parse_message(data, m);
    if (pe != ParseError::OK) {
        ++counters_.parse_errors;
        log_info("peer {}: dropped malformed message: {}", to_string(remote), name(pe));
        return;
    }
    try {
        if (!m.header.is_initiator()) {
            // From the original responder of an IKE SA we initiated: our SPI is SPIi.
            auto it = sas_.find(m.header.spi_i);
            if (it != sas_.end() && it->second->initiator) {
                IkeSa& sa = *it->second;
                if (m.header.is_response() && m.header.exchange == ExchangeType::IKE_SA_INIT) {
                    handle_init_response(sa, data, m);
                    return;
                }
                if (sa.spi_r == m.header.spi_r && sa.state != IkeSaState::CREATED) {
                    if (m.header.is_response()) handle_response(sa, data, m);
                    else handle_encrypted(sa, local, remote, data, m);
                    return;
                }
            }
        }
        if (m.header.is_response()) {
            // A response to our own request on an IKE SA the peer initiated: our SPI is SPIr.
            auto it = sas_.find(m.header.spi_r);
            if (it == sas_.end() || it->second->spi_i != m.header.spi_i || m.header.exchange == ExchangeType::IKE_SA_INIT) {
                ++counters_.responses_dropped;
                return;
            }
            handle_response(*it->second, data, m);
            return;
        }
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
    // §2.6: with too many half-open IKE SAs, demand a cookie before keeping any state
    // or doing any DH: the initiator must prove it receives at its address.
    if (half_open_.size() >= config_.cookie_threshold) {
        const auto* ni = m.get<NoncePayload>(PayloadType::NONCE);
        if (!ni) return;
        const NotifyPayload* c = m.find_notify(NotifyType::COOKIE);
        if (c && cookies_.verify(c->data, ni->data, remote, m.header.spi_i)) {
            ++counters_.cookies_accepted;
        } else {
            if (c) ++counters_.cookies_rejected;
            Header h;
            h.spi_i = m.header.spi_i;
            h.exchange = ExchangeType::IKE_SA_INIT;
            h.flags = FLAG_RESPONSE;
            transport_.send(local, remote,
                            encode_message(h, {make_notify(NotifyType::COOKIE, cookies_.make(ni->data, remote, h.spi_i))}));
            ++counters_.cookies_sent;
            return;
        }
    }
    auto sa = std::make_unique<IkeSa>();
    sa->spi_i = m.header.spi_i;
    sa->created = now_;
    sa->last_rx = now_;
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
    sa.frag.last_response.clear();
    if (encrypt) {
        std::vector<Bytes> msgs = seal(sa, h, payloads, keys);  // RFC 7383: fragments when too long
        sa.last_response = msgs.front();
        if (msgs.size() > 1) sa.frag.last_response = std::move(msgs);
    } else {
        sa.last_response = encode_message(h, payloads);
    }
    sa.last_response_id = req.message_id;
    send_all(sa.local, sa.remote, sa.last_response, sa.frag.last_response);
    ++counters_.responses_sent;
}

void IkeManager::handle_encrypted(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                  std::span<const uint8_t> data, const Message& m, const Message* opened,
                                  ParseError opened_pe) {
    if (sa.state == IkeSaState::CREATED) return;
    // §2.2: a retransmitted request gets the stored response again.
    if (!opened && sa.last_response_id && m.header.message_id == *sa.last_response_id) {
        ++counters_.retransmits_answered;
        send_all(local, remote, sa.last_response, sa.frag.last_response);
        return;
    }
    if (sa.eap && sa.eap->pending && m.header.message_id == sa.eap->pending_header.message_id) {
        // Our answer to this request waits for the EAP server (RADIUS): §2.1, the
        // retransmission needs no second answer.
        ++counters_.eap_pending_dropped;
        return;
    }
    if (m.header.message_id != sa.expected_msg_id) {
        ++counters_.bad_msg_id;
        return;
    }
    Message inner;
    ParseError pe = ParseError::OK;
    const auto* sk = m.get<SkPayload>(PayloadType::SK);
    if (opened) {
        // RFC 7383: reassembled from fragments, each already authenticated and decrypted.
        inner = *opened;
        pe = opened_pe;
    } else if (!sk || m.payloads.size() != 1) {
        ++counters_.parse_errors;
        return;
    } else {
        const bool i = sa.initiator;
        const SkKeys keys{i ? sa.keys.sk_er.bytes() : sa.keys.sk_ei.bytes(), i ? sa.keys.sk_ar.bytes() : sa.keys.sk_ai.bytes()};
        inner.header = m.header;
        const SkError se = decrypt_message(data, *sk, sa.ike_alg, keys, inner.payloads, pe);
        if (se != SkError::OK) {
            // §2.21.2: messages failing integrity are dropped silently.
            ++counters_.icv_failures;
            log_info("{}: dropped message: {}", sa.who(), name(se));
            return;
        }
    }
    sa.last_rx = now_;
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
            if (sa.state != IkeSaState::INIT_DONE || sa.initiator) {
                respond(sa, m.header, {make_notify(NotifyType::INVALID_SYNTAX)}, true);
                return;
            }
            handle_ike_auth(sa, m.header, inner);
            return;
        }
        case ExchangeType::INFORMATIONAL:
            handle_informational(sa, m, inner);
            return;
        case ExchangeType::CREATE_CHILD_SA: {
            if (sa.state != IkeSaState::ESTABLISHED || sa.rekeyed_at) {
                // §2.25: the IKE SA is going away (deleted or rekeyed).
                respond(sa, m.header, {make_notify(NotifyType::TEMPORARY_FAILURE)}, true);
                return;
            }
            // §1.3: an SA payload with an IKE proposal rekeys the IKE SA, otherwise a CHILD_SA.
            const auto* sai = inner.get<SaPayload>(PayloadType::SA);
            const bool ike = sai && !sai->proposals.empty() && sai->proposals.front().protocol == ProtocolId::IKE;
            Exchange ex;
            ex.request = &inner;
            std::unique_ptr<Task> task = ike ? make_ike_rekey(ctx_) : make_child_rekey(ctx_);
            if (task->process_r(sa, ex) == TaskStatus::FAILED || task->build_r(sa, ex) == TaskStatus::FAILED) {
                respond(sa, m.header, {make_notify(ex.error.value_or(NotifyType::NO_PROPOSAL_CHOSEN), ex.error_data)}, true);
                return;
            }
            const bool rekey = inner.find_notify(NotifyType::REKEY_SA) != nullptr;
            respond(sa, m.header, std::move(ex.response), true);
            if (ike) ++counters_.ike_rekeys;
            else if (rekey) ++counters_.child_rekeys;
            after_exchange(sa, ex);
            return;
        }
        default:
            respond(sa, m.header, {make_notify(NotifyType::INVALID_SYNTAX)}, true);
            return;
    }
}

void IkeManager::handle_ike_auth(IkeSa& sa, const Header& req, const Message& inner) {
    forget_half_open(sa.spi_r);
    Exchange ex;
    ex.request = &inner;
    if (sa.eap) {
        // A later round of the EAP conversation (§2.16): an EAP Response, or the final AUTH.
        IkeEap eap(ctx_);
        if (eap.process_r(sa, ex) == TaskStatus::FAILED) {
            fail_ike_auth(sa, req, ex);
            return;
        }
        finish_eap_round(sa, req, eap, ex);
        return;
    }
    std::unique_ptr<Task> auth = make_ike_auth(ctx_);
    if (auth->process_r(sa, ex) == TaskStatus::FAILED) {
        fail_ike_auth(sa, req, ex);
        return;
    }
    if (sa.eap) {
        // §2.16: IKE_AUTH without AUTH: our IDr, CERT, AUTH and the first EAP Request.
        IkeEap eap(ctx_);
        if (auth->build_r(sa, ex) == TaskStatus::FAILED) {
            fail_ike_auth(sa, req, ex);
            return;
        }
        if (sa.eap->await_second_id) {
            // RFC 4739: the certificate round is answered alone; the EAP round follows.
            respond(sa, req, std::move(ex.response), true);
            return;
        }
        if (eap.process_r(sa, ex) == TaskStatus::FAILED) {
            fail_ike_auth(sa, req, ex);
            return;
        }
        finish_eap_round(sa, req, eap, ex);
        return;
    }
    std::vector<std::unique_ptr<Task>> tasks;
    tasks.push_back(make_ike_config(ctx_));
    tasks.push_back(make_child_create(ctx_));
    bool ok = true;
    for (auto& t : tasks)
        if (ok && t->process_r(sa, ex) == TaskStatus::FAILED) ok = false;
    if (ok && auth->build_r(sa, ex) == TaskStatus::FAILED) ok = false;
    for (auto& t : tasks)
        if (ok && t->build_r(sa, ex) == TaskStatus::FAILED) ok = false;
    if (!ok) {
        fail_ike_auth(sa, req, ex);
        return;
    }
    respond(sa, req, std::move(ex.response), true);
}

void IkeManager::fail_ike_auth(IkeSa& sa, const Header& req, const Exchange& ex) {
    std::vector<Payload> reply{make_notify(ex.error.value_or(NotifyType::AUTHENTICATION_FAILED), ex.error_data)};
    // RFC 3748 §4.2: the EAP server's last word (EAP-Failure) goes with the notify.
    if (sa.eap && !sa.eap->failure_eap.empty()) reply.push_back(make_eap_payload(std::move(sa.eap->failure_eap)));
    respond(sa, req, std::move(reply), true);
    count_eap_failure(sa, counters_);
    remove_sa(sa.spi_r);
}

void IkeManager::finish_eap_round(IkeSa& sa, const Header& req, IkeEap& eap, Exchange& ex) {
    if (eap.pending()) {
        // The server answers later (RADIUS): keep what the response has so far; tick()
        // polls and answers. Retransmissions of this request are dropped meanwhile.
        sa.eap->pending = true;
        sa.eap->pending_header = req;
        sa.eap->pending_payloads = std::move(ex.response);
        return;
    }
    if (!eap.final()) {
        if (sa.eap->failure_logged) count_eap_failure(sa, counters_);  // a failing Request
        eap.build_r(sa, ex);
        respond(sa, req, std::move(ex.response), true);
        return;
    }
    // The peer's MSK AUTH verified: the first request's CP and CHILD_SA are answered now.
    //   HDR, SK { AUTH }  -->  <--  HDR, SK { AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr }
    Exchange cx;
    cx.request = &sa.eap->first_request;
    std::vector<std::unique_ptr<Task>> tasks;
    tasks.push_back(make_ike_config(ctx_));
    tasks.push_back(make_child_create(ctx_));
    bool ok = true;
    for (auto& t : tasks)
        if (ok && t->process_r(sa, cx) == TaskStatus::FAILED) ok = false;
    if (ok) eap.build_r(sa, ex);
    for (auto& t : tasks)
        if (ok && t->build_r(sa, cx) == TaskStatus::FAILED) ok = false;
    if (!ok) {
        fail_ike_auth(sa, req, cx);
        return;
    }
    for (auto& p : cx.response) ex.response.push_back(std::move(p));
    ++counters_.eap_successes;
    sa.eap.reset();  // the MSK and the conversation are no longer needed
    respond(sa, req, std::move(ex.response), true);
}

bool IkeManager::poll_eap(IkeSa& sa) {
    EapStep step = sa.eap->server->poll();
    if (step.kind == EapStep::Kind::PENDING) return false;
    const Header req = sa.eap->pending_header;
    Exchange ex;
    ex.response = std::move(sa.eap->pending_payloads);
    IkeEap eap(ctx_);
    if (eap.resume(sa, ex, std::move(step)) == TaskStatus::FAILED) {
        std::vector<Payload> reply{make_notify(ex.error.value_or(NotifyType::AUTHENTICATION_FAILED), ex.error_data)};
        if (!sa.eap->failure_eap.empty()) reply.push_back(make_eap_payload(std::move(sa.eap->failure_eap)));
        respond(sa, req, std::move(reply), true);
        count_eap_failure(sa, counters_);
        return true;
    }
    finish_eap_round(sa, req, eap, ex);
    return false;
}

void IkeManager::handle_informational(IkeSa& sa, const Message& req, const Message& inner) {
    // §1.4.1: a Delete for the IKE SA is answered with an empty INFORMATIONAL and ends
    // the IKE SA with its CHILD_SAs; ESP deletes are answered with the deleted pairs'
    // inbound SPIs. An empty request is a liveness check (§2.4) and gets an empty answer.
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
                log_info("{}: CHILD_SA {:08x}_i {:08x}_o deleted by peer", sa.who(), in, out);
                // §1.4.1: when both ends delete the same pair at once, each answers
                // without the SPI it already deletes.
                if (!c->deleting)
                    child_spis.push_back(be32_bytes(in));
                const uint32_t replaced = c->replaces_spi_in;
                sa.children.erase(c);
                if (ChildSa* old = replaced ? sa.child_by_in(replaced) : nullptr; old && old->replaced && !old->deleting) {
                    // The peer dropped the rekey it made instead of the pair it rekeyed.
                    old->replaced = false;
                    log_info("{}: CHILD_SA {:08x}_i {:08x}_o stays: its replacement was deleted", sa.who(),
                             old->info.spi_in, old->info.spi_out);
                }
                break;
            }
        }
    }
    if (!sa.initiator && inner.find_notify(NotifyType::AUTHENTICATION_FAILED)) {
        // §2.21.2: the initiator refused our authentication (or, during EAP, gave up:
        // strongSwan does so after an MSCHAPv2 Failure Request or a TLS alert instead of
        // acknowledging it) and deletes the IKE SA: so do we, with its CHILD_SAs, instead
        // of waiting for the half-open timeout or leaving a dead tunnel installed.
        if (sa.eap) {
            IkeEap::log_failure(sa, "peer abandoned the EAP conversation (AUTHENTICATION_FAILED)");
            count_eap_failure(sa, counters_);
        } else {
            log_info("{}: peer refused our authentication (INFORMATIONAL AUTHENTICATION_FAILED), IKE SA deleted",
                     sa.who());
        }
        respond(sa, req.header, {}, true);
        remove_sa(our_spi(sa));
        return;
    }
    std::vector<Payload> reply;
    if (!delete_ike && !child_spis.empty())
        reply.push_back({PayloadType::DELETE, false, DeletePayload{ProtocolId::ESP, 4, child_spis}});
    respond(sa, req.header, std::move(reply), true);
    if (delete_ike) {
        log_info("{}: IKE SA deleted by peer", sa.who());
        remove_sa(our_spi(sa));
        return;
    }
    kick(sa);
}

bool IkeManager::open(IkeSa& sa, std::span<const uint8_t> data, const Message& m, Message& inner) {
    const auto* sk = m.get<SkPayload>(PayloadType::SK);
    if (!sk || m.payloads.size() != 1) return false;
    const bool i = sa.initiator;
    const SkKeys keys{i ? sa.keys.sk_er.bytes() : sa.keys.sk_ei.bytes(), i ? sa.keys.sk_ar.bytes() : sa.keys.sk_ai.bytes()};
    inner.header = m.header;
    ParseError pe = ParseError::OK;
    const SkError se = decrypt_message(data, *sk, sa.ike_alg, keys, inner.payloads, pe);
    if (se != SkError::OK) ++counters_.icv_failures;
    if (pe != ParseError::OK) ++counters_.parse_errors;
    return se == SkError::OK && pe == ParseError::OK;
}

void IkeManager::handle_response(IkeSa& sa, std::span<const uint8_t> data, const Message& m, const Message* opened) {
    // §2.2: only the response to our one outstanding request counts; late duplicates
    // (answers to retransmissions) are dropped.
    if (!sa.pending || m.header.message_id != sa.pending->message_id || m.header.exchange != sa.pending->exchange) {
        ++counters_.responses_dropped;
        return;
    }
    Message inner;
    if (opened) inner = *opened;  // RFC 7383: reassembled from authenticated fragments
    else if (!open(sa, data, m, inner)) {
        ++counters_.responses_dropped;
        log_info("{}: dropped response {}", sa.who(), m.header.message_id);
        return;
    }
    sa.last_rx = now_;
    std::shared_ptr<Task> task = std::move(sa.pending->task);
    sa.pending.reset();
    Exchange ex;
    ex.request = &inner;
    if (task->process_i(sa, ex) == TaskStatus::SUCCESS && task->name() == "child_rekey") ++counters_.child_rekeys;
    after_exchange(sa, ex);
}

void IkeManager::after_exchange(IkeSa& sa, Exchange& ex) {
    counters_.child_mode_mismatch += ex.child_mode_mismatch;
    for (auto& t : ex.follow_up) sa.queue.push_back(std::move(t));
    if (ex.new_ike_sa) {
        std::unique_ptr<IkeSa> n = std::move(ex.new_ike_sa);
        const uint64_t spi = our_spi(*n);
        if (!sas_.count(spi)) sas_[spi] = std::move(n);
        if (radius_) radius_->on_rekeyed(our_spi(sa), spi);  // the user's accounting session goes on
    }
    if (ex.delete_ike_sa) {
        log_info("{}: IKE SA deleted", sa.who());
        if (sa.initiator && sa.state != IkeSaState::ESTABLISHED) schedule_restart(sa);  // IKE_AUTH failed
        remove_sa(our_spi(sa));
        return;
    }
    kick(sa);
}

void IkeManager::kick(IkeSa& sa) {
    // §2.3: a window of one: the next request leaves when the previous was answered.
    // An IKE SA we initiate sends its IKE_AUTH request in INIT_DONE.
    while (!sa.pending && !sa.queue.empty() &&
           (sa.state == IkeSaState::ESTABLISHED || (sa.initiator && sa.state == IkeSaState::INIT_DONE))) {
        std::shared_ptr<Task> task = std::move(sa.queue.front());
        sa.queue.pop_front();
        Exchange ex;
        if (task->build_i(sa, ex) == TaskStatus::FAILED) continue;
        Header h;
        h.spi_i = sa.spi_i;
        h.spi_r = sa.spi_r;
        h.exchange = task->exchange_type();
        h.flags = sa.initiator ? FLAG_INITIATOR : 0;
        h.message_id = sa.next_msg_id++;
        const bool i = sa.initiator;
        const SkKeys keys{i ? sa.keys.sk_ei.bytes() : sa.keys.sk_er.bytes(), i ? sa.keys.sk_ai.bytes() : sa.keys.sk_ar.bytes()};
        PendingRequest p;
        p.exchange = h.exchange;
        p.message_id = h.message_id;
        std::vector<Bytes> msgs = seal(sa, h, ex.response, keys);  // RFC 7383: fragments when too long
        p.wire = msgs.front();
        sa.frag.pending.clear();
        if (msgs.size() > 1) sa.frag.pending = std::move(msgs);
        p.next_send = now_ + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(config_.retransmit_timeout_s));
        p.task = std::move(task);
        send_all(sa.local, sa.remote, p.wire, sa.frag.pending);
        ++counters_.requests_sent;
        sa.pending = std::move(p);
    }
    if (sa.state == IkeSaState::DELETING && !sa.pending) {
        // Our Delete of the IKE SA left and nothing else may follow.
        sa.queue.clear();
    }
}

IkeSa* IkeManager::owner_of(uint32_t spi_in, ChildSa** child) {
    for (auto& [spi, sa] : sas_) {
        if (ChildSa* c = sa->child_by_in(spi_in)) {
            *child = c;
            return sa.get();
        }
    }
    return nullptr;
}

void IkeManager::on_child_expired(uint32_t spi_in, bool hard) {
    ChildSa* c = nullptr;
    IkeSa* sa = owner_of(spi_in, &c);
    if (!sa) return;
    if (hard) {
        // RFC 4301 §4.4.2.1: at the hard lifetime the SA is gone; tell the peer.
        log_info("{}: CHILD_SA {:08x}_i reached its hard lifetime", sa->who(), spi_in);
        c->expire_at = Clock::time_point::max();
        if (!c->deleting) {
            c->deleting = true;
            sa->queue.push_back(make_delete(ctx_, {spi_in}));
        }
    } else if (!c->rekeying && !c->replaced && !c->deleting) {
        c->rekeying = true;
        c->rekey_at = Clock::time_point::max();
        sa->queue.push_back(make_child_rekey(ctx_, spi_in));
    }
    kick(*sa);
}

bool IkeManager::delete_child(uint32_t spi_in) {
    ChildSa* c = nullptr;
    IkeSa* sa = owner_of(spi_in, &c);
    if (!sa) return false;
    if (!c->deleting) {
        c->deleting = true;
        sa->queue.push_back(make_delete(ctx_, {spi_in}));
    }
    kick(*sa);
    return true;
}

bool IkeManager::delete_ike_sa(uint64_t spi_r) {
    auto it = sas_.find(spi_r);
    if (it == sas_.end()) return false;
    IkeSa& sa = *it->second;
    if (sa.state != IkeSaState::ESTABLISHED) {
        remove_sa(spi_r);
        return true;
    }
    sa.queue.clear();  // §1.4.1: nothing else matters once the IKE SA goes
    sa.queue.push_back(make_delete(ctx_, {}));
    kick(sa);
    return true;
}

void IkeManager::tick(Clock::time_point now) {
    now_ = now;
    ctx_.now = now;
    cookies_.tick(now);
    std::vector<uint64_t> dead;
    for (auto& [spi, sa] : sas_) {
        try {
            tick_sa(*sa, dead);
        } catch (const std::exception& e) {
            log_warn("{}: internal error in timers: {}", sa->who(), e.what());
        }
    }
    for (uint64_t spi : dead) {
        // dpd_action "restart" (default with start_action "start"): a cleared IKE SA we
        // initiate (dead peer, expired attempt) comes back; "clear": it stays down.
        if (auto it = sas_.find(spi); it != sas_.end() && it->second->conn && it->second->conn->dpd_restart) {
            log_info("{}: dpd_action restart: connection {} is initiated again in {} s", it->second->who(),
                     it->second->conn->name, RESTART_DELAY.count());
            schedule_restart(*it->second);
        }
        acct_terminate_cause_ = radius::kTerminateLostService;
        remove_sa(spi);
        acct_terminate_cause_ = radius::kTerminateUserRequest;
    }
    if (radius_) tick_radius();
    if (radius_retired_) {
        radius_retired_->collect(now);
        if (!radius_retired_->in_flight()) radius_retired_.reset();
    }
    for (auto it = restart_at_.begin(); it != restart_at_.end();) {
        if (now < it->second) {
            ++it;
            continue;
        }
        const std::string name = it->first;
        it = restart_at_.erase(it);
        bool up = false;
        for (const auto& [spi, sa] : sas_)
            up = up || (sa->conn && sa->conn->name == name && sa->state != IkeSaState::DELETING && !sa->rekeyed_at);
        if (!up) initiate(name);
    }
}

void IkeManager::tick_sa(IkeSa& sa, std::vector<uint64_t>& dead) {
    using std::chrono::seconds;
    sa.frag.rx.expire(now_, FragmentLimits{}, counters_.fragments);  // RFC 7383: abandoned reassembly
    if (sa.state == IkeSaState::CREATED || sa.state == IkeSaState::INIT_DONE) {
        // An EAP conversation may take its time (users typing, MFA approvals): it
        // counts from the peer's last message.
        const Clock::time_point since = sa.eap ? sa.last_rx : sa.created;
        if (config_.half_open_timeout_s && now_ - since >= seconds(config_.half_open_timeout_s)) {
            ++counters_.half_open_expired;
            log_info("{}: half-open IKE SA expired", sa.who());
            dead.push_back(our_spi(sa));
            return;
        }
        if (sa.eap && sa.eap->pending && poll_eap(sa)) {
            dead.push_back(our_spi(sa));
            return;
        }
        // Our IKE_SA_INIT / IKE_AUTH requests are retransmitted below.
        if (!sa.initiator) return;
    }
    if (sa.rekeyed_at && now_ - *sa.rekeyed_at >= seconds(30) && !sa.pending) {
        // §1.3.2: the peer should have deleted the old IKE SA by now.
        dead.push_back(our_spi(sa));
        return;
    }
    if (sa.pending && now_ >= sa.pending->next_send) {
        PendingRequest& p = *sa.pending;
        if (p.retransmits >= config_.retransmit_tries) {
            // §2.4: no answer through all retransmissions: the peer is dead. Action
            // clear: the IKE SA and its CHILD_SAs go without further messages.
            ++counters_.peers_dead;
            log_warn("{}: no response after {} retransmissions, peer is dead: clearing IKE SA and {} CHILD_SA(s)",
                     sa.who(), p.retransmits, sa.children.size());
            dead.push_back(our_spi(sa));
            return;
        }
        ++p.retransmits;
        // §2.1/§2.4: exponential back-off.
        const double wait = config_.retransmit_timeout_s * std::pow(config_.retransmit_base, p.retransmits);
        p.next_send = now_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
        send_all(sa.local, sa.remote, p.wire, sa.frag.pending);  // RFC 7383 §2.5: every fragment again
        ++counters_.retransmits_sent;
    }
    if (sa.state != IkeSaState::ESTABLISHED) return;
    for (auto& c : sa.children) {
        if (now_ >= c.expire_at && !c.deleting) {
            log_info("{}: CHILD_SA {:08x}_i reached its hard lifetime", sa.who(), c.info.spi_in);
            c.expire_at = Clock::time_point::max();
            c.deleting = true;
            sa.queue.push_back(make_delete(ctx_, {c.info.spi_in}));
        } else if (now_ >= c.rekey_at && !c.rekeying && !c.replaced && !c.deleting) {
            c.rekeying = true;
            c.rekey_at = Clock::time_point::max();
            sa.queue.push_back(make_child_rekey(ctx_, c.info.spi_in));
        }
    }
    if (config_.dpd_delay_s && !sa.pending && sa.queue.empty() && !sa.rekeyed_at &&
        now_ - sa.last_rx >= seconds(config_.dpd_delay_s)) {
        ++counters_.dpd_sent;
        sa.queue.push_back(make_ike_dpd(ctx_));
    }
    // RFC 3948 §2.3 / RFC 7296 §2.23: keep the peer's NAT mapping open.
    if (config_.keepalive_s && sa.nat_remote && sa.local.port == config_.natt_port && now_ >= sa.next_keepalive) {
        if (sa.next_keepalive != Clock::time_point{}) {
            transport_.send_nat_keepalive(sa.local, sa.remote);
            ++counters_.keepalives_sent;
        }
        sa.next_keepalive = now_ + seconds(config_.keepalive_s);
    }
    kick(sa);
}

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
    // RFC 2866: the user's session ends with the IKE SA; read the counters first.
    if (radius_ && radius_->accounting_active(spi_r))
        radius_->on_ended(spi_r, usage_of(sa), acct_terminate_cause_, now_);
    if (sa.eap && sa.eap->server) sa.eap->server->abort();  // drop an outstanding RADIUS request
    for (const auto& c : sa.children) sink_.remove(c.info.spi_in, c.info.spi_out);
    // The virtual IP lease stays reserved for the identity (reused on reconnect).
    forget_half_open(spi_r);
    sas_.erase(it);
}

bool IkeManager::initiate(const std::string& name) {
    const ConnectionConfig* conn = nullptr;
    for (const auto& c : config_.connections)
        if (c.name == name) conn = &c;
    if (!conn || !conn->remote_addr) {
        log_warn("initiate {}: no such connection with remote_addr", name);
        return false;
    }
    auto sa = std::make_unique<IkeSa>();
    sa->initiator = true;
    sa->conn = conn;
    sa->created = now_;
    sa->last_rx = now_;
    do {
        if (RAND_bytes(reinterpret_cast<uint8_t*>(&sa->spi_i), sizeof sa->spi_i) != 1)
            throw std::runtime_error("RAND_bytes");
    } while (sa->spi_i == 0 || sas_.count(sa->spi_i));
    in_addr a{};
    inet_pton(AF_INET, config_.listen_addr.c_str(), &a);
    uint32_t local_host = ntohl(a.s_addr);
    if (local_host == 0) local_host = source_toward(*conn->remote_addr);
    sa->local = Endpoint{local_host, config_.port};
    sa->remote = Endpoint{*conn->remote_addr, 500};
    sa->peer_id = conn->remote_id;
    IkeSa& ref = *sa;
    sas_[sa->spi_i] = std::move(sa);
    log_info("{}: initiating IKE SA for connection {}", ref.who(), name);
    send_init(ref, std::make_shared<IkeInitI>(ctx_));
    return true;
}

void IkeManager::send_init(IkeSa& sa, std::shared_ptr<Task> task) {
    Exchange ex;
    if (task->build_i(sa, ex) == TaskStatus::FAILED) return;
    Header h;
    h.spi_i = sa.spi_i;
    h.exchange = ExchangeType::IKE_SA_INIT;
    h.flags = FLAG_INITIATOR;
    h.message_id = 0;
    sa.init_request = encode_message(h, ex.response);
    PendingRequest p;
    p.exchange = ExchangeType::IKE_SA_INIT;
    p.message_id = 0;
    p.wire = sa.init_request;
    sa.frag.pending.clear();  // IKE_SA_INIT is never fragmented (RFC 7383 §2.5)
    p.next_send = now_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(config_.retransmit_timeout_s));
    p.task = std::move(task);
    transport_.send(sa.local, sa.remote, p.wire);
    ++counters_.requests_sent;
    sa.pending = std::move(p);
}

void IkeManager::handle_init_response(IkeSa& sa, std::span<const uint8_t> data, const Message& m) {
    // §2.2: only the answer to our outstanding IKE_SA_INIT (message ID 0) counts.
    auto* init = sa.pending ? dynamic_cast<IkeInitI*>(sa.pending->task.get()) : nullptr;
    if (sa.state != IkeSaState::CREATED || !init || m.header.message_id != 0) {
        ++counters_.responses_dropped;
        return;
    }
    Exchange ex;
    ex.request = &m;
    if (init->process_i(sa, ex) == TaskStatus::SUCCESS) {
        std::shared_ptr<Task> keep = std::move(sa.pending->task);
        sa.pending.reset();
        sa.init_response.assign(data.begin(), data.end());
        sa.state = IkeSaState::INIT_DONE;
        sa.next_msg_id = 1;
        sa.last_rx = now_;
        if (sa.nat()) {
            // §2.23: with a NAT on the path, IKE_AUTH and ESP move to UDP 4500.
            sa.local.port = config_.natt_port;
            sa.remote.port = 4500;
        }
        log_info("{}: IKE_SA_INIT done as initiator, {}{}", sa.who(), to_string(sa.ike_alg), sa.nat() ? ", NAT-T" : "");
        sa.queue.push_back(make_ike_auth_i(ctx_));
        kick(sa);
        return;
    }
    if (init->retry()) {
        send_init(sa, std::move(sa.pending->task));
        return;
    }
    log_warn("{}: IKE_SA_INIT as initiator failed", sa.who());
    schedule_restart(sa);
    remove_sa(our_spi(sa));
}

SaUsage IkeManager::usage_of(const IkeSa& sa) {
    SaUsage u;
    for (const auto& c : sa.children) u += sink_.usage(c.info.spi_in, c.info.spi_out);
    return u;
}

std::optional<std::string> IkeManager::radius_change_refused(const std::optional<RadiusConfig>& next) const {
    if (!radius_) return std::nullopt;
    if (next) return radius_->change_refused(*next);
    const RadiusAccounting* a = radius_->accounting();
    if (a && a->sessions())
        return fmt::format("[radius] removed while {} accounting session(s) are open: restart to apply", a->sessions());
    return std::nullopt;
}

void IkeManager::reconfigure_radius(const std::optional<RadiusConfig>& next) {
    if (next && radius_) {
        radius_->reconfigure(*next, now_);
    } else if (next) {
        try {
            radius_ = std::make_unique<RadiusService>(*next, nas_ip(config_.listen_addr));
        } catch (const std::exception& e) {
            log_warn("radius: the new [radius] table is not applied: {}", e.what());
        }
    } else if (radius_) {
        // EAP conversations in flight keep the client alive through their own references.
        radius_->accounting_off(now_);
        radius_retired_ = std::move(radius_);
        log_info("radius: [radius] removed; new EAP-RADIUS logins are refused");
    }
    ctx_.radius = radius_.get();
}

void IkeManager::tick_radius() {
    // Accounting Start once an EAP-RADIUS user's IKE SA is up with its first CHILD_SA.
    for (auto& [spi, sa] : sas_) {
        if (sa->state != IkeSaState::ESTABLISHED || sa->rekeyed_at || sa->children.empty() || !sa->conn) continue;
        const auto user = eap_radius_user(*sa);
        if (!user || radius_->accounting_active(spi)) continue;
        radius_->on_established(spi, *user, *sa->conn, sa->local, sa->remote, sa->virtual_ip, now_);
    }
    radius_->tick(now_, [this](uint64_t spi) {
        const IkeSa* sa = find(spi);
        return sa ? usage_of(*sa) : SaUsage{};
    });
}

void IkeManager::schedule_restart(const IkeSa& sa) {
    if (sa.conn && (sa.conn->start || sa.conn->dpd_restart) && sa.conn->remote_addr && !sa.rekeyed_at &&
        !restart_at_.count(sa.conn->name))
        restart_at_[sa.conn->name] = now_ + RESTART_DELAY;
}

}  // namespace espgw::ike

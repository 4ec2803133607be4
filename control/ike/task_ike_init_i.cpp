// IKE_SA_INIT as initiator (RFC 7296 §1.2, §2.6, §2.7, §2.23); see task_ike_init_i.hpp.
#include "control/ike/task_ike_init_i.hpp"

#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {
constexpr size_t NONCE_BYTES = 32;  // §2.10: at least half the PRF key size
constexpr unsigned MAX_RETRIES = 3;
}  // namespace

TaskStatus IkeInitI::build_i(IkeSa& sa, Exchange& ex) {
    if (!sa.conn || sa.conn->ike_proposals.empty()) return TaskStatus::FAILED;
    retry_ = false;
    if (sa.ni.empty()) {
        // §2.6: a retry keeps Ni (the cookie covers it).
        sa.ni.resize(NONCE_BYTES);
        if (RAND_bytes(sa.ni.data(), static_cast<int>(sa.ni.size())) != 1) throw std::runtime_error("RAND_bytes");
    }
    const DhGroup g = group_.value_or(sa.conn->ike_proposals.front().dh);
    if (!sa.dh || sa.dh->group() != g) sa.dh = DhKey::generate(g);
    // §2.6: the cookie is the first payload of the retried request.
    if (!cookie_.empty()) ex.response.push_back(make_notify(NotifyType::COOKIE, cookie_));
    SaPayload sai;
    uint8_t number = 1;
    for (const Algorithms& a : sa.conn->ike_proposals) {
        SaPayload one = make_reply_sa(Selection{a, number++, {}}, ProtocolId::IKE, {});
        sai.proposals.push_back(std::move(one.proposals.front()));
    }
    ex.response.push_back({PayloadType::SA, false, std::move(sai)});
    ex.response.push_back({PayloadType::KE, false, KePayload{static_cast<uint16_t>(g), sa.dh->public_value()}});
    ex.response.push_back({PayloadType::NONCE, false, NoncePayload{sa.ni}});
    // §2.23: hashes over the SPIs of this message (SPIr = 0) and our view of the addresses.
    ex.response.push_back(make_notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_hash(sa.spi_i, 0, sa.local)));
    ex.response.push_back(make_notify(NotifyType::NAT_DETECTION_DESTINATION_IP, natd_hash(sa.spi_i, 0, sa.remote)));
    // RFC 7383 §2.3: we can take fragmented messages.
    if (ctx_.config.fragmentation.mode != FragmentationMode::NO)
        ex.response.push_back(make_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED));
    return TaskStatus::SUCCESS;
}

TaskStatus IkeInitI::process_i(IkeSa& sa, Exchange& ex) {
    retry_ = false;
    const Message& m = *ex.request;
    if (const NotifyPayload* c = m.find_notify(NotifyType::COOKIE)) {
        // §2.6: the responder wants proof that we receive at our address.
        if (++cookie_tries_ > MAX_RETRIES || c->data.empty() || c->data.size() > 64) {
            log_info("{}: IKE_SA_INIT: too many or bad COOKIEs", sa.who());
            return TaskStatus::FAILED;
        }
        log_info("{}: IKE_SA_INIT: responder demands a COOKIE, retrying", sa.who());
        cookie_ = c->data;
        retry_ = true;
        return TaskStatus::FAILED;
    }
    if (const NotifyPayload* n = m.find_notify(NotifyType::INVALID_KE_PAYLOAD)) {
        // §1.2, §2.7: retry with the group the responder selected, if we proposed it.
        if (n->data.size() != 2 || ++ke_tries_ > MAX_RETRIES) return TaskStatus::FAILED;
        const auto g = static_cast<DhGroup>(n->data[0] << 8 | n->data[1]);
        const auto& props = sa.conn->ike_proposals;
        const bool offered = std::any_of(props.begin(), props.end(), [&](const Algorithms& a) { return a.dh == g; });
        if (!offered || !dh_supported(g) || (sa.dh && sa.dh->group() == g)) {
            log_info("{}: IKE_SA_INIT: responder asks for DH group {} we did not propose", sa.who(),
                     static_cast<uint16_t>(g));
            return TaskStatus::FAILED;
        }
        log_info("{}: IKE_SA_INIT: responder asks for DH group {}, retrying", sa.who(), static_cast<uint16_t>(g));
        group_ = g;
        retry_ = true;
        return TaskStatus::FAILED;
    }
    for (const auto& p : m.payloads) {
        const auto* n = std::get_if<NotifyPayload>(&p.body);
        if (n && static_cast<uint16_t>(n->type) < 16384) {
            log_info("{}: IKE_SA_INIT refused by responder: notify {}", sa.who(), static_cast<uint16_t>(n->type));
            return TaskStatus::FAILED;
        }
    }
    const auto* sar = m.get<SaPayload>(PayloadType::SA);
    const auto* ke = m.get<KePayload>(PayloadType::KE);
    const auto* nr = m.get<NoncePayload>(PayloadType::NONCE);
    std::optional<Selection> sel;
    // §2.7: the responder returns exactly one of our proposals.
    if (sar && sar->proposals.size() == 1) sel = select_proposal(sa.conn->ike_proposals, *sar, ProtocolId::IKE);
    if (!sel || !ke || !nr || nr->data.size() < 16 || nr->data.size() > 256 || m.header.spi_r == 0) {
        log_info("{}: malformed or unacceptable IKE_SA_INIT response", sa.who());
        return TaskStatus::FAILED;
    }
    if (!sa.dh || ke->group != static_cast<uint16_t>(sel->alg.dh) || sa.dh->group() != sel->alg.dh) {
        log_info("{}: IKE_SA_INIT response with an unexpected DH group {}", sa.who(), ke->group);
        return TaskStatus::FAILED;
    }
    auto shared = sa.dh->shared_secret(ke->data);
    if (!shared) {
        log_info("{}: IKE_SA_INIT response with an invalid KE value", sa.who());
        return TaskStatus::FAILED;
    }
    sa.ike_alg = sel->alg;
    sa.spi_r = m.header.spi_r;
    sa.nr = nr->data;
    sa.keys = derive_ike_sa_keys(sa.ike_alg, sa.ni, sa.nr, shared->bytes(), sa.spi_i, sa.spi_r);
    // §2.23: the responder's source hash covers its address as it sent it, the
    // destination hash our address as it saw it.
    bool any_src = false, src_match = false, any_dst = false, dst_match = false;
    const Bytes want_src = natd_hash(sa.spi_i, sa.spi_r, sa.remote);
    const Bytes want_dst = natd_hash(sa.spi_i, sa.spi_r, sa.local);
    for (const auto& p : m.payloads) {
        const auto* n = std::get_if<NotifyPayload>(&p.body);
        if (!n) continue;
        if (n->type == NotifyType::NAT_DETECTION_SOURCE_IP) {
            any_src = true;
            src_match = src_match || n->data == want_src;
        } else if (n->type == NotifyType::NAT_DETECTION_DESTINATION_IP) {
            any_dst = true;
            dst_match = dst_match || n->data == want_dst;
        }
    }
    if (any_src && any_dst) {
        sa.nat_remote = !src_match;
        sa.nat_local = !dst_match;
    }
    sa.frag.peer_supported = ctx_.config.fragmentation.mode != FragmentationMode::NO &&
                             m.find_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED) != nullptr;
    return TaskStatus::SUCCESS;
}

}  // namespace espgw::ike

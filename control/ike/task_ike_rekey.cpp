// CREATE_CHILD_SA rekeying the IKE SA, responder side (RFC 7296 §1.3.2, §2.18):
//   HDR, SK { SA, Ni, KEi }  -->
//                       <--  HDR, SK { SA, Nr, KEr }
// The proposal carries the initiator's new 8-byte SPI; we answer with ours. The new
// IKE SA's keys come from SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) and
// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) with the new SPIs. The CHILD_SAs move to the
// new IKE SA; the initiator of the rekey deletes the old one (§1.3.2).
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace espgw::ike {

namespace {

constexpr size_t NONCE_BYTES = 32;  // §2.10

void append_be64(Bytes& v, uint64_t x) {
    for (int i = 56; i >= 0; i -= 8) v.push_back(static_cast<uint8_t>(x >> i));
}

class IkeRekey final : public Task {
public:
    explicit IkeRekey(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_rekey"; }
    ExchangeType exchange_type() const noexcept override { return ExchangeType::CREATE_CHILD_SA; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* sai = m.get<SaPayload>(PayloadType::SA);
        const auto* ni = m.get<NoncePayload>(PayloadType::NONCE);
        const auto* ke = m.get<KePayload>(PayloadType::KE);
        if (!sai || !ni || !ke) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "missing SA, Ni or KEi");
        if (ni->data.size() < 16 || ni->data.size() > 256) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "bad nonce size");
        if (sa.pending || sa.rekeyed_at) {
            // §2.25.2: we are in the middle of our own exchange on this IKE SA.
            return fail(sa, ex, NotifyType::TEMPORARY_FAILURE, "an exchange of ours is in progress");
        }
        const auto sel = select_proposal(sa.conn->ike_proposals, *sai, ProtocolId::IKE);
        if (!sel || sel->peer_spi.size() != 8) return fail(sa, ex, NotifyType::NO_PROPOSAL_CHOSEN, "no acceptable IKE proposal");
        const uint16_t g = static_cast<uint16_t>(sel->alg.dh);
        if (ke->group != g) {
            ex.error_data = {static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)};
            return fail(sa, ex, NotifyType::INVALID_KE_PAYLOAD, "KE group differs from the selected proposal");
        }
        auto n = std::make_unique<IkeSa>();
        for (uint8_t b : sel->peer_spi) n->spi_i = n->spi_i << 8 | b;
        do {
            if (RAND_bytes(reinterpret_cast<uint8_t*>(&n->spi_r), sizeof n->spi_r) != 1)
                throw std::runtime_error("RAND_bytes");
        } while (n->spi_r == 0);
        n->ike_alg = sel->alg;
        n->ni = ni->data;
        n->nr.resize(NONCE_BYTES);
        if (RAND_bytes(n->nr.data(), static_cast<int>(n->nr.size())) != 1) throw std::runtime_error("RAND_bytes");
        n->dh = DhKey::generate(sel->alg.dh);
        auto shared = n->dh->shared_secret(ke->data);
        if (!shared) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "invalid KE public value");
        n->keys = derive_rekeyed_ike_sa_keys(n->ike_alg, sa.keys.sk_d.bytes(), shared->bytes(), n->ni, n->nr, n->spi_i, n->spi_r);
        number_ = sel->number;
        new_ = std::move(n);
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        IkeSa& n = *new_;
        Bytes spi;
        append_be64(spi, n.spi_r);
        ex.response.push_back({PayloadType::SA, false, make_reply_sa(Selection{n.ike_alg, number_, {}}, ProtocolId::IKE, spi)});
        ex.response.push_back({PayloadType::NONCE, false, NoncePayload{n.nr}});
        ex.response.push_back({PayloadType::KE, false, KePayload{static_cast<uint16_t>(n.ike_alg.dh), n.dh->public_value()}});
        // The peer initiated the rekey: it is the new IKE SA's original initiator
        // (§2.18), so we stay responder there and keep our keying roles.
        n.initiator = false;
        n.state = IkeSaState::ESTABLISHED;
        n.local = sa.local;
        n.remote = sa.remote;
        n.nat_local = sa.nat_local;
        n.nat_remote = sa.nat_remote;
        n.frag.peer_supported = sa.frag.peer_supported;  // RFC 7383 §2.3: negotiated once for the IKE SA and its successors
        n.conn = sa.conn;
        n.peer_id = sa.peer_id;
        n.virtual_ip = sa.virtual_ip;
        n.virtual_ip6 = sa.virtual_ip6;
        n.vip_pool = sa.vip_pool;
        n.vip6_pool = sa.vip6_pool;
        n.groups = sa.groups;
        n.user = sa.user;  // the EAP-authenticated user stays the same (accounting, logs)
        n.auth_method = sa.auth_method;
        n.user_ip = sa.user_ip;
        n.children = std::move(sa.children);
        sa.children.clear();
        n.created = ctx_.now;
        n.last_rx = ctx_.now;
        n.next_keepalive = sa.next_keepalive;
        sa.rekeyed_at = ctx_.now;
        log_info("{}: IKE SA rekeyed by peer, SPIs {:016x}_i {:016x}_r -> {:016x}_i {:016x}_r, {} CHILD_SA(s) moved",
                 sa.who(), sa.spi_i, sa.spi_r, n.spi_i, n.spi_r, n.children.size());
        ex.new_ike_sa = std::move(new_);
        return TaskStatus::SUCCESS;
    }

private:
    TaskStatus fail(IkeSa& sa, Exchange& ex, NotifyType n, std::string_view why) {
        ex.error = n;
        if (n != NotifyType::INVALID_KE_PAYLOAD) ex.error_data.clear();
        log_info("{}: IKE SA rekey refused: {}", sa.who(), why);
        return TaskStatus::FAILED;
    }

    TaskContext& ctx_;
    std::unique_ptr<IkeSa> new_;
    uint8_t number_ = 1;
};

}  // namespace

std::unique_ptr<Task> make_ike_rekey(TaskContext& ctx) { return std::make_unique<IkeRekey>(ctx); }

}  // namespace espgw::ike

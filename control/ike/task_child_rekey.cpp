// CREATE_CHILD_SA for CHILD_SAs (RFC 7296 §1.3.1, §1.3.3, §2.8, §2.8.1, §2.17):
//   HDR, SK { [N(REKEY_SA)], [N(USE_TRANSPORT_MODE)], SA, Ni, [KEi], TSi, TSr }  -->
//                        <--  HDR, SK { [N(USE_TRANSPORT_MODE)], SA, Nr, [KEr], TSi, TSr }
// As responder: an additional CHILD_SA, or the rekey of an existing one (the notify
// names the peer's inbound SPI of the old pair). As initiator: the rekey of one of our
// pairs when its soft lifetime comes. A rekey is make-before-break: SaSink::rekey
// installs the new pair beside the old one; whoever initiated the rekey then deletes
// the old pair (INFORMATIONAL), and SaSink::remove drops it when that Delete completes.
// Mode (§1.3.1, child_mode.hpp): our rekey of a transport pair asks for transport again
// and deletes a new pair the peer made as a tunnel; as responder the mode is decided as
// for the first CHILD_SA.
// Collisions (§2.8.1): when both ends rekey the same pair at once, the new pair made
// with the lowest of the four nonces is redundant and deleted by the end that made it.
#include "control/ike/child_mode.hpp"
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/traffic_selector.hpp"
#include "control/ike/virtual_ip.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {

constexpr size_t NONCE_BYTES = 32;  // §2.10

uint32_t random_spi() {
    uint32_t spi = 0;
    do {
        if (RAND_bytes(reinterpret_cast<uint8_t*>(&spi), sizeof spi) != 1) throw std::runtime_error("RAND_bytes");
    } while (spi < 256);  // RFC 4303 §2.1: 1..255 are reserved
    return spi;
}
Bytes random_nonce() {
    Bytes n(NONCE_BYTES);
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) throw std::runtime_error("RAND_bytes");
    return n;
}
// §2.8.1 compares nonces as octet strings.
const Bytes& min_nonce(const Bytes& a, const Bytes& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()) ? a : b;
}
bool nonce_less(const Bytes& a, const Bytes& b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
}

class ChildRekey final : public Task {
public:
    ChildRekey(TaskContext& ctx, uint32_t spi_in) : ctx_(ctx), old_spi_in_(spi_in) {}
    std::string_view name() const noexcept override { return "child_rekey"; }
    ExchangeType exchange_type() const noexcept override { return ExchangeType::CREATE_CHILD_SA; }

    // ---- responder ------------------------------------------------------------------

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        const Message& m = *ex.request;
        const auto* sai = m.get<SaPayload>(PayloadType::SA);
        const auto* ni = m.get<NoncePayload>(PayloadType::NONCE);
        const auto* tsi = m.get<TsPayload>(PayloadType::TSi);
        const auto* tsr = m.get<TsPayload>(PayloadType::TSr);
        if (!sai || !ni || !tsi || !tsr) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "missing SA/Ni/TSi/TSr");
        if (ni->data.size() < 16 || ni->data.size() > 256) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "bad nonce size");
        if (const auto* rk = m.find_notify(NotifyType::REKEY_SA)) {
            // §1.3.3: the notify carries the SPI the initiator receives on, our outbound.
            if (rk->protocol != ProtocolId::ESP || rk->spi.size() != 4)
                return fail(sa, ex, NotifyType::INVALID_SYNTAX, "REKEY_SA without an ESP SPI");
            ChildSa* old = sa.child_by_out(from_be32(rk->spi));
            if (!old || old->replaced) {
                ex.error_data.clear();
                ex.error = NotifyType::CHILD_SA_NOT_FOUND;  // §2.25
                log_info("{}: rekey of unknown CHILD_SA {:08x} refused", sa.who(), from_be32(rk->spi));
                return TaskStatus::FAILED;
            }
            old_spi_in_ = old->info.spi_in;
        }
        const auto sel = select_proposal(sa.conn->esp_proposals, *sai, ProtocolId::ESP);
        if (!sel) return fail(sa, ex, NotifyType::NO_PROPOSAL_CHOSEN, "no acceptable ESP proposal");
        const auto* ke = m.get<KePayload>(PayloadType::KE);
        if (sel->alg.dh != DhGroup::NONE) {
            // §1.3.1: PFS; the KE must be of the selected group, else INVALID_KE_PAYLOAD.
            const uint16_t g = static_cast<uint16_t>(sel->alg.dh);
            if (!ke || ke->group != g) {
                ex.error_data = {static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)};
                ex.error = NotifyType::INVALID_KE_PAYLOAD;
                log_info("{}: CREATE_CHILD_SA KE group {} != selected {}", sa.who(), ke ? ke->group : 0, g);
                return TaskStatus::FAILED;
            }
            dh_ = DhKey::generate(sel->alg.dh);
            auto shared = dh_->shared_secret(ke->data);
            if (!shared) return fail(sa, ex, NotifyType::INVALID_SYNTAX, "invalid KE public value");
            g_ir_ = std::move(*shared);
        }
        // §2.9 narrowing and the mode, as for the first CHILD_SA.
        const std::vector<TrafficSelector> allowed_remote = remote_ts_for(sa);
        const std::vector<TrafficSelector> allowed_local = local_ts_for(sa, ctx_.config);
        mode_ = responder_mode(sa, has_use_transport_mode(m), tsi->selectors, tsr->selectors,
                               allowed_remote.empty() ? nullptr : &allowed_remote,
                               allowed_local,  // split tunnel, as at creation
                               ts_remote_, ts_local_);
        if (ts_remote_.empty() || ts_local_.empty())
            return fail(sa, ex, NotifyType::TS_UNACCEPTABLE,
                        ts_unacceptable_reason(tsi->selectors, tsr->selectors, allowed_remote, allowed_local));
        sel_ = *sel;
        peer_nonce_ = ni->data;
        our_nonce_ = random_nonce();
        spi_in_ = random_spi();
        spi_out_ = from_be32(sel->peer_spi);
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        // §2.17: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr), Ni/Nr of this exchange.
        const ChildSaKeys keys = derive_child_sa_keys(Prf(sa.ike_alg.prf), sa.keys.sk_d.bytes(), sel_.alg, peer_nonce_,
                                                      our_nonce_, g_ir_ ? g_ir_->bytes() : std::span<const uint8_t>{});
        ChildSa* old = old_spi_in_ ? sa.child_by_in(old_spi_in_) : nullptr;
        ChildSaInfo info = make_info(sa, /*initiator=*/false);
        info.defer_out = old != nullptr;  // §2.8: send on the new SA once the old one is deleted
        const bool ok = old ? ctx_.sink.rekey(old->info.spi_in, old->info.spi_out, info, keys) : ctx_.sink.install(info, keys);
        if (!ok) {
            log_warn("{}: dataplane refused CHILD_SA {:08x}/{:08x}", sa.who(), spi_in_, spi_out_);
            ex.response.push_back(make_notify(NotifyType::TEMPORARY_FAILURE));
            return TaskStatus::SUCCESS;
        }
        if (old) {
            old->replaced = true;  // the peer deletes it (§1.3.3)
            old->rekey_at = Clock::time_point::max();
            // §2.8.1: our own rekey of it is in flight: remember the peer's nonces.
            if (old->rekeying) old->peer_rekey_min_nonce = min_nonce(peer_nonce_, our_nonce_);
            log_info("{}: CHILD_SA {:08x}_i {:08x}_o rekeyed by peer to {:08x}_i {:08x}_o{}, {} mode", sa.who(),
                     old->info.spi_in, old->info.spi_out, spi_in_, spi_out_, g_ir_ ? " with PFS" : "", mode_name(mode_));
        } else {
            log_info("{}: additional CHILD_SA installed, {} mode, SPIs {:08x}_i {:08x}_o, {}", sa.who(),
                     mode_name(mode_), spi_in_, spi_out_, to_string(sel_.alg));
        }
        const uint32_t replaces = old ? old->info.spi_in : 0;  // `old` dangles after push_back
        sa.children.push_back(ChildSa{info});
        sa.children.back().replaces_spi_in = replaces;
        arm_child_timers(sa.children.back(), ctx_.config, ctx_.now);
        if (mode_ == ChildMode::transport) ex.response.push_back(use_transport_mode_notify());
        ex.response.push_back({PayloadType::SA, false, make_reply_sa(sel_, ProtocolId::ESP, be32_bytes(spi_in_))});
        ex.response.push_back({PayloadType::NONCE, false, NoncePayload{our_nonce_}});
        if (dh_) ex.response.push_back({PayloadType::KE, false, KePayload{static_cast<uint16_t>(dh_->group()), dh_->public_value()}});
        ex.response.push_back({PayloadType::TSi, false, TsPayload{ts_remote_}});
        ex.response.push_back({PayloadType::TSr, false, TsPayload{ts_local_}});
        return TaskStatus::SUCCESS;
    }

    // ---- initiator ------------------------------------------------------------------

    TaskStatus build_i(IkeSa& sa, Exchange& ex) override {
        ChildSa* old = sa.child_by_in(old_spi_in_);
        if (!old || old->replaced || old->deleting || !sa.conn) {
            if (old) old->rekeying = false;
            return TaskStatus::FAILED;
        }
        old->rekeying = true;
        old->peer_rekey_min_nonce.reset();
        spi_in_ = random_spi();
        our_nonce_ = random_nonce();
        // Our ESP proposals in order, each with the new SPI; PFS with the first one's group.
        SaPayload sa_payload;
        uint8_t number = 1;
        offered_ = sa.conn->esp_proposals;
        if (group_override_)
            for (auto& a : offered_) a.dh = *group_override_;
        for (const Algorithms& a : offered_) {
            SaPayload one = make_reply_sa(Selection{a, number++, {}}, ProtocolId::ESP, be32_bytes(spi_in_));
            sa_payload.proposals.push_back(std::move(one.proposals.front()));
        }
        const DhGroup pfs = group_override_.value_or(sa.conn->esp_proposals.front().dh);
        ts_local_ = old->info.ts_local;
        ts_remote_ = old->info.ts_remote;
        mode_ = old->info.mode;  // a rekey keeps the pair's mode
        // CREATE_CHILD_SA { N(REKEY_SA), [N(USE_TRANSPORT_MODE)], SA, Ni, [KEi], TSi, TSr } -->
        ex.response.push_back(make_notify(NotifyType::REKEY_SA, {}, ProtocolId::ESP, be32_bytes(old_spi_in_)));
        if (mode_ == ChildMode::transport) ex.response.push_back(use_transport_mode_notify());
        ex.response.push_back({PayloadType::SA, false, std::move(sa_payload)});
        ex.response.push_back({PayloadType::NONCE, false, NoncePayload{our_nonce_}});
        if (pfs != DhGroup::NONE) {
            dh_ = DhKey::generate(pfs);
            ex.response.push_back({PayloadType::KE, false, KePayload{static_cast<uint16_t>(pfs), dh_->public_value()}});
        }
        ex.response.push_back({PayloadType::TSi, false, TsPayload{ts_local_}});
        ex.response.push_back({PayloadType::TSr, false, TsPayload{ts_remote_}});
        log_info("{}: rekeying CHILD_SA {:08x}_i {:08x}_o", sa.who(), old->info.spi_in, old->info.spi_out);
        return TaskStatus::SUCCESS;
    }

    TaskStatus process_i(IkeSa& sa, Exchange& ex) override {
        ChildSa* old = sa.child_by_in(old_spi_in_);
        if (old) old->rekeying = false;
        const Message& m = *ex.request;
        for (const auto& p : m.payloads) {
            const auto* n = std::get_if<NotifyPayload>(&p.body);
            if (n && n->type == NotifyType::INVALID_KE_PAYLOAD && n->data.size() == 2 && old && !old->replaced &&
                !group_override_) {
                // §1.3/§2.7: the peer wants PFS with another group: retry once with it.
                const auto g = static_cast<DhGroup>(n->data[0] << 8 | n->data[1]);
                if (dh_supported(g)) {
                    log_info("{}: CHILD_SA rekey: peer asks for DH group {}, retrying", sa.who(), static_cast<uint16_t>(g));
                    auto retry = std::make_unique<ChildRekey>(ctx_, old_spi_in_);
                    retry->group_override_ = g;
                    old->rekeying = true;
                    ex.follow_up.push_back(std::move(retry));
                    return TaskStatus::FAILED;
                }
            }
            if (n && static_cast<uint16_t>(n->type) < 16384) {
                // §1.3: the rekey failed; the old pair stays. A transient refusal (or a
                // collision with the peer's IKE rekey, §2.25) is retried later.
                log_info("{}: CHILD_SA rekey refused by peer: notify {}", sa.who(), static_cast<uint16_t>(n->type));
                if (old && !old->replaced) old->rekey_at = ctx_.now + std::chrono::seconds(10);
                return TaskStatus::FAILED;
            }
        }
        const auto* sar = m.get<SaPayload>(PayloadType::SA);
        const auto* nr = m.get<NoncePayload>(PayloadType::NONCE);
        const auto* tsi = m.get<TsPayload>(PayloadType::TSi);
        const auto* tsr = m.get<TsPayload>(PayloadType::TSr);
        std::optional<Selection> sel;
        if (sar && sar->proposals.size() == 1) sel = select_proposal(offered_, *sar, ProtocolId::ESP);
        if (!sel || !nr || nr->data.size() < 16 || nr->data.size() > 256 || !tsi || !tsr || !old) {
            log_info("{}: malformed CREATE_CHILD_SA response, rekey failed", sa.who());
            return TaskStatus::FAILED;
        }
        if (sel->alg.dh != DhGroup::NONE) {
            const auto* ke = m.get<KePayload>(PayloadType::KE);
            if (!dh_ || dh_->group() != sel->alg.dh || !ke || ke->group != static_cast<uint16_t>(sel->alg.dh)) {
                log_info("{}: CREATE_CHILD_SA response with an unexpected DH group, rekey failed", sa.who());
                return TaskStatus::FAILED;
            }
            auto shared = dh_->shared_secret(ke->data);
            if (!shared) return TaskStatus::FAILED;
            g_ir_ = std::move(*shared);
        }
        sel_ = *sel;
        peer_nonce_ = nr->data;
        spi_out_ = from_be32(sel->peer_spi);
        ts_local_ = tsi->selectors;
        ts_remote_ = tsr->selectors;
        if (const std::string why = check_response_mode(sa, mode_, has_use_transport_mode(m), ts_local_, ts_remote_);
            !why.empty()) {
            // §1.3.1: the peer made the new pair in another mode: delete it; the old
            // pair stays and the rekey is tried again later.
            log_warn("{}: rekeyed CHILD_SA {:08x}_i {:08x}_o refused: {}; deleting it", sa.who(), spi_in_, spi_out_, why);
            ++ex.child_mode_mismatch;
            if (!old->replaced) old->rekey_at = ctx_.now + std::chrono::seconds(10);
            ex.follow_up.push_back(make_delete_uninstalled(ctx_, spi_in_));
            return TaskStatus::FAILED;
        }
        const ChildSaKeys keys = derive_child_sa_keys(Prf(sa.ike_alg.prf), sa.keys.sk_d.bytes(), sel_.alg, our_nonce_,
                                                      peer_nonce_, g_ir_ ? g_ir_->bytes() : std::span<const uint8_t>{});
        const ChildSaInfo info = make_info(sa, /*initiator=*/true);
        if (old->peer_rekey_min_nonce) {
            // §2.8.1 collision: both ends rekeyed `old`. The new pair with the lowest
            // nonce is redundant and its creator deletes it.
            const Bytes& ours = min_nonce(our_nonce_, peer_nonce_);
            if (nonce_less(ours, *old->peer_rekey_min_nonce)) {
                log_info("{}: rekey collision on CHILD_SA {:08x}_i: ours lost (lowest nonce), deleting {:08x}_i",
                         sa.who(), old_spi_in_, spi_in_);
                // The peer holds this pair: install it so the Delete removes a known pair.
                if (ctx_.sink.install(info, keys)) {
                    sa.children.push_back(ChildSa{info});
                    sa.children.back().replaced = true;
                    sa.children.back().deleting = true;
                }
                ex.follow_up.push_back(make_delete(ctx_, {spi_in_}));
                return TaskStatus::SUCCESS;  // the peer's rekey won: it deletes `old`
            }
            log_info("{}: rekey collision on CHILD_SA {:08x}_i: ours won", sa.who(), old_spi_in_);
        }
        if (!ctx_.sink.rekey(old->info.spi_in, old->info.spi_out, info, keys)) {
            log_warn("{}: dataplane refused rekeyed CHILD_SA {:08x}/{:08x}; deleting it", sa.who(), spi_in_, spi_out_);
            old->rekey_at = ctx_.now + std::chrono::seconds(10);
            ex.follow_up.push_back(make_delete(ctx_, {spi_in_}));
            return TaskStatus::FAILED;
        }
        log_info("{}: CHILD_SA {:08x}_i {:08x}_o rekeyed to {:08x}_i {:08x}_o{}, {} mode", sa.who(), old->info.spi_in,
                 old->info.spi_out, spi_in_, spi_out_, g_ir_ ? " with PFS" : "", mode_name(mode_));
        old->replaced = true;
        old->deleting = true;
        const uint32_t old_in = old->info.spi_in;  // `old` dangles after push_back
        sa.children.push_back(ChildSa{info});
        arm_child_timers(sa.children.back(), ctx_.config, ctx_.now);
        ex.follow_up.push_back(make_delete(ctx_, {old_in}));  // §1.3.3: we delete the old pair
        return TaskStatus::SUCCESS;
    }

private:
    ChildSaInfo make_info(const IkeSa& sa, bool initiator) const {
        ChildSaInfo info;
        info.connection = sa.conn->name;
        info.peer_identity = sa.peer_id.to_string();
        info.local = sa.local;
        info.remote = sa.remote;
        info.udp_encap = sa.nat();
        info.mode = mode_;
        info.initiator = initiator;  // of this CREATE_CHILD_SA: KEYMAT order (§2.17)
        info.spi_in = spi_in_;
        info.spi_out = spi_out_;
        info.alg = sel_.alg;
        info.alg.dh = DhGroup::NONE;
        info.ts_local = ts_local_;
        info.ts_remote = ts_remote_;
        info.virtual_ip = sa.virtual_ip;
        info.virtual_ip6 = sa.virtual_ip6;
        info.groups = sa.groups;
        return info;
    }

    TaskStatus fail(IkeSa& sa, Exchange& ex, NotifyType n, std::string_view why) {
        ex.error = n;
        ex.error_data.clear();
        log_info("{}: CREATE_CHILD_SA refused: {}", sa.who(), why);
        return TaskStatus::FAILED;
    }

    TaskContext& ctx_;
    uint32_t old_spi_in_ = 0;  // the pair being rekeyed (0: a new pair)
    std::optional<DhGroup> group_override_;  // the KE group the peer asked for
    std::vector<Algorithms> offered_;         // our proposals as sent
    Selection sel_;
    ChildMode mode_ = ChildMode::tunnel;
    uint32_t spi_in_ = 0, spi_out_ = 0;
    Bytes our_nonce_, peer_nonce_;
    std::optional<DhKey> dh_;
    std::optional<crypto::SecretBytes> g_ir_;
    std::vector<TrafficSelector> ts_local_, ts_remote_;
};

}  // namespace

std::unique_ptr<Task> make_child_rekey(TaskContext& ctx, uint32_t spi_in) {
    return std::make_unique<ChildRekey>(ctx, spi_in);
}

}  // namespace espgw::ike

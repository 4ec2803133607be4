// IkeManager's side of IKE fragmentation (RFC 7383): SKF messages in, fragmented
// messages out. The codec and the reassembly live in fragments.cpp.
#include "control/ike/ike_manager.hpp"

#include "control/ike/log.hpp"

namespace espgw::ike {

std::vector<Bytes> IkeManager::seal(IkeSa& sa, const Header& h, const std::vector<Payload>& payloads,
                                    const SkKeys& keys) {
    // §2.5: only once both sides announced support (or [ike] fragmentation = force), and
    // only when the message does not fit fragment_size.
    const FragmentationMode mode = config_.fragmentation.mode;
    size_t limit = 0;
    if (mode == FragmentationMode::FORCE || (mode == FragmentationMode::YES && sa.frag.peer_supported))
        limit = max_ike_message(config_.fragmentation.fragment_size, sa.local.port == config_.natt_port);
    std::vector<Bytes> msgs = seal_message(h, payloads, sa.ike_alg, keys, limit);
    if (msgs.size() > 1) {
        ++counters_.fragments.messages_fragmented;
        log_info("{}: {} message {} sent in {} fragments (fragment_size {})", sa.who(),
                 h.is_response() ? "response" : "request", h.message_id, msgs.size(),
                 config_.fragmentation.fragment_size);
    }
    return msgs;
}

void IkeManager::send_all(const Endpoint& local, const Endpoint& remote, const Bytes& whole,
                          const std::vector<Bytes>& fragments) {
    if (fragments.empty()) {
        transport_.send(local, remote, whole);
        return;
    }
    for (const Bytes& f : fragments) transport_.send(local, remote, f);
    counters_.fragments.fragments_sent += fragments.size();
}

void IkeManager::on_fragment(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> data) {
    FragmentCounters& fc = counters_.fragments;
    ++fc.fragments_received;
    SkfView v;
    if (!parse_skf(data, v)) {
        ++fc.fragments_bad;
        ++counters_.parse_errors;
        log_info("peer {}: dropped malformed IKE fragment", to_string(remote));
        return;
    }
    const Header& h = v.header;
    if (config_.fragmentation.mode == FragmentationMode::NO || h.exchange == ExchangeType::IKE_SA_INIT) {
        // §2.5: IKE_SA_INIT is never fragmented; with fragmentation off we take none.
        ++fc.fragments_dropped;
        return;
    }
    // The IKE SA: our SPI is SPIr when the original initiator sent it, SPIi otherwise.
    const uint64_t ours = h.is_initiator() ? h.spi_r : h.spi_i;
    auto it = sas_.find(ours);
    if (it == sas_.end() || it->second->spi_i != h.spi_i || it->second->spi_r != h.spi_r ||
        it->second->initiator == h.is_initiator() || it->second->state == IkeSaState::CREATED) {
        ++fc.fragments_dropped;
        ++counters_.unknown_spi;
        return;
    }
    IkeSa& sa = *it->second;
    if (!h.is_response()) {
        // §2.6.1: a fragment of the request we already answered is a retransmission; the
        // whole response goes again once per retransmitted request, on its first fragment.
        if (sa.last_response_id && h.message_id == *sa.last_response_id) {
            if (v.number == 1) {
                ++counters_.retransmits_answered;
                send_all(local, remote, sa.last_response, sa.frag.last_response);
            }
            return;
        }
        if (h.message_id != sa.expected_msg_id) {
            ++fc.fragments_dropped;
            ++counters_.bad_msg_id;
            return;
        }
    } else if (!sa.pending || h.message_id != sa.pending->message_id || h.exchange != sa.pending->exchange) {
        ++fc.fragments_dropped;
        ++counters_.responses_dropped;
        return;
    }
    const bool i = sa.initiator;
    const SkKeys keys{i ? sa.keys.sk_er.bytes() : sa.keys.sk_ei.bytes(), i ? sa.keys.sk_ar.bytes() : sa.keys.sk_ai.bytes()};
    const Reassembly::Result r = sa.frag.rx.add(data, v, sa.ike_alg, keys, now_, FragmentLimits{}, fc);
    switch (r) {
        case Reassembly::Result::KEPT:
        case Reassembly::Result::DUPLICATE:
            return;
        case Reassembly::Result::BAD:
            log_info("{}: dropped IKE fragment {}/{} of message {}: failed its integrity check or inconsistent",
                     sa.who(), v.number, v.total, h.message_id);
            return;
        case Reassembly::Result::LIMIT:
            log_info("{}: dropped IKE fragment {}/{} of message {}: over the reassembly limits", sa.who(), v.number,
                     v.total, h.message_id);
            return;
        case Reassembly::Result::COMPLETE:
            break;
    }
    Message inner;
    inner.header = h;
    inner.header.next_payload = PayloadType::SK;
    const ParseError pe = sa.frag.rx.take(inner.payloads);
    ++fc.messages_reassembled;
    log_info("{}: {} {} reassembled from {} fragments", sa.who(), h.is_response() ? "response" : "request",
             h.message_id, v.total);
    // The outer message as the handlers see it: the header; the payloads are `inner`.
    Message outer;
    outer.header = inner.header;
    if (h.is_response()) {
        if (pe != ParseError::OK) {
            ++counters_.parse_errors;
            ++counters_.responses_dropped;
            return;
        }
        handle_response(sa, data, outer, &inner);
    } else {
        handle_encrypted(sa, local, remote, data, outer, &inner, pe);
    }
}

}  // namespace espgw::ike

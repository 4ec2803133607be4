#include "control/ike/fragments.hpp"

#include "crypto/secret.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {

// RFC 7383 §2.5: Fragment Number and Total Fragments follow the generic header.
constexpr size_t SKF_FIELDS = 4;
constexpr size_t SKF_HEADER = GENERIC_HEADER_LEN + SKF_FIELDS;

uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

void put16(Bytes& out, size_t at, size_t v) {
    out[at] = static_cast<uint8_t>(v >> 8);
    out[at + 1] = static_cast<uint8_t>(v);
}

// The largest plaintext chunk whose SKF message fits in `max_message` bytes.
size_t chunk_for(const Algorithms& alg, size_t max_message) {
    if (max_message <= IKE_HEADER_LEN + SKF_HEADER) return 0;
    size_t c = max_message - IKE_HEADER_LEN - SKF_HEADER;
    while (c > 0 && IKE_HEADER_LEN + SKF_HEADER + sealed_len(alg, c) > max_message) --c;
    return c;
}

}  // namespace

std::string to_json(const FragmentCounters& c) {
    return fmt::format(
        "{{\"fragments_sent\":{},\"messages_fragmented\":{},\"fragments_received\":{},\"messages_reassembled\":{},"
        "\"fragments_duplicate\":{},\"fragments_bad\":{},\"fragments_dropped\":{},\"reassembly_timeouts\":{}}}",
        c.fragments_sent, c.messages_fragmented, c.fragments_received, c.messages_reassembled, c.fragments_duplicate,
        c.fragments_bad, c.fragments_dropped, c.reassembly_timeouts);
}

bool parse_skf(std::span<const uint8_t> data, SkfView& out) noexcept {
    if (parse_header(data, out.header) != ParseError::OK) return false;
    if (out.header.length != data.size() || out.header.next_payload != PayloadType::SKF) return false;
    if (data.size() < IKE_HEADER_LEN + SKF_HEADER) return false;
    const uint8_t* p = data.data() + IKE_HEADER_LEN;
    // §2.5: the Encrypted Fragment payload is the only payload; it runs to the end.
    if (be16(p + 2) != data.size() - IKE_HEADER_LEN) return false;
    out.first_inner = static_cast<PayloadType>(p[0]);
    out.number = be16(p + 4);
    out.total = be16(p + 6);
    out.body_offset = IKE_HEADER_LEN + SKF_HEADER;
    if (out.number == 0 || out.total == 0 || out.number > out.total) return false;
    // §2.5: only the first fragment names the first inner payload.
    if (out.number != 1 && out.first_inner != PayloadType::NONE) return false;
    return true;
}

size_t max_ike_message(uint32_t fragment_size, bool non_esp_marker) noexcept {
    const size_t overhead = 20 + 8 + (non_esp_marker ? 4 : 0);  // IPv4 header, UDP header, marker
    return fragment_size > overhead ? fragment_size - overhead : 0;
}

std::vector<Bytes> seal_message(Header header, const std::vector<Payload>& inner, const Algorithms& alg,
                                const SkKeys& keys, size_t max_message) {
    PayloadType first;
    Bytes plain = encode_payload_chain(inner, first);
    struct Wipe {
        Bytes& b;
        ~Wipe() { crypto::secure_wipe(b.data(), b.size()); }
    } wipe{plain};
    std::vector<Bytes> out;
    const size_t whole = IKE_HEADER_LEN + GENERIC_HEADER_LEN + sealed_len(alg, plain.size());
    if (max_message == 0 || whole <= max_message) {
        // Fits: one ordinary SK message (§3.14).
        out.push_back(encrypt_message(header, inner, alg, keys));
        return out;
    }
    const size_t chunk = chunk_for(alg, max_message);
    if (chunk == 0) throw std::length_error("fragment size leaves no room for data");
    const size_t total = (plain.size() + chunk - 1) / chunk;
    if (total > 0xffff) throw std::length_error("message needs more than 65535 fragments");
    header.next_payload = PayloadType::SKF;
    for (size_t i = 0; i < total; ++i) {
        const size_t off = i * chunk;
        const std::span<const uint8_t> part(plain.data() + off, std::min(chunk, plain.size() - off));
        const size_t skf_len = SKF_HEADER + sealed_len(alg, part.size());
        header.length = static_cast<uint32_t>(IKE_HEADER_LEN + skf_len);
        Bytes msg(IKE_HEADER_LEN + SKF_HEADER);
        msg.reserve(header.length);
        encode_header(header, msg);
        // §2.5: Next Payload names the first inner payload in fragment 1, 0 elsewhere.
        msg[IKE_HEADER_LEN] = i == 0 ? static_cast<uint8_t>(first) : 0;
        msg[IKE_HEADER_LEN + 1] = 0;
        put16(msg, IKE_HEADER_LEN + 2, skf_len);
        put16(msg, IKE_HEADER_LEN + 4, i + 1);
        put16(msg, IKE_HEADER_LEN + 6, total);
        // The AAD (AEAD) / the ICV's coverage (CBC+HMAC) is the IKE header and the SKF
        // header with both fragment fields (§2.5), so a fragment cannot be renumbered.
        seal_body(alg, keys, part, msg);
        out.push_back(std::move(msg));
    }
    return out;
}

void Reassembly::reset() noexcept {
    for (auto& p : parts_)
        if (p) crypto::secure_wipe(p->data(), p->size());
    parts_.clear();
    total_ = 0;
    have_ = 0;
    bytes_ = 0;
    first_inner_ = PayloadType::NONE;
}

void Reassembly::expire(std::chrono::steady_clock::time_point now, const FragmentLimits& limits,
                        FragmentCounters& counters) {
    if (active() && now - started_ >= limits.timeout) {
        ++counters.reassembly_timeouts;
        reset();
    }
}

Reassembly::Result Reassembly::add(std::span<const uint8_t> data, const SkfView& v, const Algorithms& alg,
                                   const SkKeys& keys, std::chrono::steady_clock::time_point now,
                                   const FragmentLimits& limits, FragmentCounters& counters) {
    expire(now, limits, counters);
    if (v.total > limits.max_fragments) {
        ++counters.fragments_dropped;
        return Result::LIMIT;
    }
    // §2.6: each fragment is authenticated on its own before anything is kept, so a
    // forged fragment can neither fill a slot nor restart the reassembly.
    Bytes plain;
    if (open_body(data, v.body_offset, alg, keys, plain) != SkError::OK) {
        ++counters.fragments_bad;
        return Result::BAD;
    }
    struct Wipe {
        Bytes& b;
        ~Wipe() { crypto::secure_wipe(b.data(), b.size()); }
    } wipe{plain};
    if (active() && v.header.message_id == message_id_ && v.total < total_) {
        // §2.6: fewer fragments than announced before: this one is stale.
        ++counters.fragments_bad;
        return Result::BAD;
    }
    if (!active() || v.header.message_id != message_id_ || v.total > total_) {
        // A new message, or the sender re-fragmented with a smaller size (§2.6): start over.
        reset();
        message_id_ = v.header.message_id;
        total_ = v.total;
        parts_.resize(total_);
        started_ = now;
    }
    auto& slot = parts_[v.number - 1u];
    if (slot) {
        ++counters.fragments_duplicate;
        return Result::DUPLICATE;
    }
    if (bytes_ + plain.size() > limits.max_bytes) {
        ++counters.fragments_dropped;
        reset();
        return Result::LIMIT;
    }
    if (v.number == 1) first_inner_ = v.first_inner;
    bytes_ += plain.size();
    slot = std::move(plain);
    plain = Bytes{};
    ++have_;
    return have_ == total_ ? Result::COMPLETE : Result::KEPT;
}

ParseError Reassembly::take(std::vector<Payload>& inner) {
    Bytes whole;
    whole.reserve(bytes_);
    for (const auto& p : parts_)
        if (p) whole.insert(whole.end(), p->begin(), p->end());
    const PayloadType first = first_inner_;
    const bool complete = active() && have_ == total_;
    reset();
    if (!complete) {
        crypto::secure_wipe(whole.data(), whole.size());
        return ParseError::TRUNCATED_PAYLOAD;
    }
    const ParseError pe = parse_payload_chain(first, whole, inner);
    crypto::secure_wipe(whole.data(), whole.size());
    return pe;
}

}  // namespace espgw::ike

// libFuzzer target: IKE fragmentation (RFC 7383, control/ike/fragments.cpp).
//
// Byte 0 picks the mode:
//   0: up to 16 datagrams split at the marker "\xde\xad\xbe\xef" go through parse_skf
//      and into one Reassembly (fixed keys): whatever arrives, nothing is kept that
//      fails its ICV and nothing crashes;
//   1: byte 1 names the first payload type and the rest is parsed as a payload chain;
//      when it parses, it is sealed into fragments of a size taken from the input,
//      delivered in an order (with duplicates) taken from the input, and the
//      reassembled chain must encode to the same bytes.
// Anything may be refused; nothing may crash, leak or trip UBSan.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "control/ike/fragments.hpp"
#include "control/ike/log.hpp"
#include "control/ike/proposal.hpp"

namespace {

using namespace espgw::ike;

const auto T0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

struct Suite {
    Algorithms alg;
    Bytes encr, integ;
    SkKeys keys() const { return SkKeys{encr, integ}; }
};

const Suite& suite(bool gcm) {
    static const Suite s_gcm{parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE), Bytes(36, 0x11), {}};
    static const Suite s_cbc{parse_proposal("aes128-sha256-modp2048", ProtocolId::IKE), Bytes(16, 0x22),
                             Bytes(32, 0x33)};
    return gcm ? s_gcm : s_cbc;
}

void raw_fragments(std::span<const uint8_t> in) {
    const Suite& s = suite(!in.empty() && (in[0] & 1));
    Reassembly r;
    FragmentCounters c;
    FragmentLimits lim;
    lim.max_fragments = 8;
    lim.max_bytes = 4096;
    static constexpr uint8_t kMarker[4] = {0xde, 0xad, 0xbe, 0xef};
    for (int i = 0; i < 16 && !in.empty(); ++i) {
        size_t cut = in.size();
        for (size_t j = 0; j + 4 <= in.size(); ++j)
            if (std::memcmp(in.data() + j, kMarker, 4) == 0) {
                cut = j;
                break;
            }
        SkfView v;
        if (parse_skf(in.first(cut), v)) {
            // No input can carry a valid ICV under these keys: refused as forged or over a limit.
            const auto res = r.add(in.first(cut), v, s.alg, s.keys(), T0, lim, c);
            if (res != Reassembly::Result::BAD && res != Reassembly::Result::LIMIT) std::abort();
        }
        in = cut + 4 <= in.size() ? in.subspan(cut + 4) : std::span<const uint8_t>{};
    }
    if (r.active()) std::abort();
}

void round_trip(std::span<const uint8_t> in) {
    if (in.size() < 4) return;
    const Suite& s = suite(in[0] & 1);
    const size_t max = 100 + in[1] * 4;  // 100..1120 bytes per fragment message
    const PayloadType first = static_cast<PayloadType>(in[2]);
    const uint8_t order_seed = in[3];
    in = in.subspan(4);
    std::vector<Payload> payloads;
    if (parse_payload_chain(first, in, payloads) != ParseError::OK || payloads.empty()) return;
    for (const auto& p : payloads)
        if (std::holds_alternative<SkPayload>(p.body)) return;  // SK is never an inner payload
    PayloadType f0;
    const Bytes want = encode_payload_chain(payloads, f0);
    Header h;
    h.spi_i = 1;
    h.spi_r = 2;
    h.exchange = ExchangeType::IKE_AUTH;
    h.flags = FLAG_INITIATOR;
    h.message_id = 1;
    std::vector<Bytes> msgs;
    try {
        msgs = seal_message(h, payloads, s.alg, s.keys(), max);
    } catch (const std::length_error&) {
        return;
    }
    if (msgs.size() == 1) return;  // fitted: an ordinary SK message
    // Deliver in a rotated order with the first fragment duplicated at the end.
    const size_t rot = order_seed % msgs.size();
    std::rotate(msgs.begin(), msgs.begin() + static_cast<ptrdiff_t>(rot), msgs.end());
    Reassembly r;
    FragmentCounters c;
    FragmentLimits lim;
    lim.max_fragments = 0xffff;
    lim.max_bytes = 1 << 20;
    size_t complete = 0;
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (msgs[i].size() > max) std::abort();
        SkfView v;
        if (!parse_skf(msgs[i], v)) std::abort();
        const auto res = r.add(msgs[i], v, s.alg, s.keys(), T0, lim, c);
        if (res == Reassembly::Result::COMPLETE) complete = i + 1;
        else if (res != Reassembly::Result::KEPT) std::abort();
    }
    if (complete != msgs.size()) std::abort();
    std::vector<Payload> got;
    if (r.take(got) != ParseError::OK) std::abort();
    PayloadType f1;
    if (encode_payload_chain(got, f1) != want || f1 != f0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log_set_enabled(false);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::span<const uint8_t> in(data + 1, size - 1);
    if (data[0] % 2 == 0) raw_fragments(in);
    else round_trip(in);
    return 0;
}

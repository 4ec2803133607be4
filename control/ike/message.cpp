#include "control/ike/message.hpp"

#include "control/ike/wire.hpp"

#include <stdexcept>

namespace espgw::ike {

using wire::Reader;

std::string_view name(ParseError e) noexcept {
    switch (e) {
        case ParseError::OK: return "ok";
        case ParseError::TRUNCATED_HEADER: return "truncated_header";
        case ParseError::BAD_MAJOR_VERSION: return "bad_major_version";
        case ParseError::LENGTH_MISMATCH: return "length_mismatch";
        case ParseError::TRUNCATED_PAYLOAD: return "truncated_payload";
        case ParseError::BAD_PAYLOAD_LENGTH: return "bad_payload_length";
        case ParseError::UNSUPPORTED_CRITICAL: return "unsupported_critical_payload";
        case ParseError::SK_NOT_LAST: return "sk_not_last";
        case ParseError::BAD_PROPOSAL: return "bad_proposal";
        case ParseError::BAD_TRANSFORM: return "bad_transform";
        case ParseError::BAD_ATTRIBUTE: return "bad_attribute";
        case ParseError::BAD_TRAFFIC_SELECTOR: return "bad_traffic_selector";
        case ParseError::BAD_CP_ATTRIBUTE: return "bad_cp_attribute";
        case ParseError::BAD_NOTIFY: return "bad_notify";
        case ParseError::BAD_DELETE: return "bad_delete";
        case ParseError::TOO_MANY_PAYLOADS: return "too_many_payloads";
    }
    return "unknown";
}

const Payload* Message::find(PayloadType type) const noexcept {
    for (const auto& p : payloads)
        if (p.type == type) return &p;
    return nullptr;
}

const NotifyPayload* Message::find_notify(NotifyType type) const noexcept {
    for (const auto& p : payloads) {
        if (p.type != PayloadType::NOTIFY) continue;
        const auto* n = std::get_if<NotifyPayload>(&p.body);
        if (n && n->type == type) return n;
    }
    return nullptr;
}

ParseError parse_header(std::span<const uint8_t> data, Header& h) noexcept {
    Reader r(data);
    uint8_t np = 0, ex = 0;
    if (!r.u64(h.spi_i) || !r.u64(h.spi_r) || !r.u8(np) || !r.u8(h.version) || !r.u8(ex) ||
        !r.u8(h.flags) || !r.u32(h.message_id) || !r.u32(h.length))
        return ParseError::TRUNCATED_HEADER;
    h.next_payload = static_cast<PayloadType>(np);
    h.exchange = static_cast<ExchangeType>(ex);
    // RFC 7296 §3.1: major version 2; a different major version gets INVALID_MAJOR_VERSION.
    if ((h.version >> 4) != 2) return ParseError::BAD_MAJOR_VERSION;
    return ParseError::OK;
}

namespace {

// RFC 7296 §3.3: proposals and transforms inside an SA payload.
ParseError parse_sa(std::span<const uint8_t> body, SaPayload& sa) {
    Reader r(body);
    uint8_t last = 2;
    while (last == 2) {
        if (r.left() == 0) return ParseError::BAD_PROPOSAL;
        uint8_t reserved = 0, num = 0, proto = 0, spi_size = 0, ntrans = 0;
        uint16_t plen = 0;
        if (!r.u8(last) || !r.u8(reserved) || !r.u16(plen)) return ParseError::BAD_PROPOSAL;
        if ((last != 0 && last != 2) || plen < 8 || plen - 4u > r.left())
            return ParseError::BAD_PROPOSAL;
        std::span<const uint8_t> pbody;
        r.bytes(plen - 4u, pbody);
        Reader pr(pbody);
        Proposal p;
        pr.u8(num);
        pr.u8(proto);
        pr.u8(spi_size);
        pr.u8(ntrans);
        p.number = num;
        p.protocol = static_cast<ProtocolId>(proto);
        if (!pr.bytes(spi_size, p.spi)) return ParseError::BAD_PROPOSAL;
        uint8_t tlast = ntrans ? 3 : 0;
        for (unsigned i = 0; i < ntrans; ++i) {
            if (tlast != 3) return ParseError::BAD_TRANSFORM;
            uint8_t tres = 0, ttype = 0, tres2 = 0;
            uint16_t tlen = 0, tid = 0;
            if (!pr.u8(tlast) || !pr.u8(tres) || !pr.u16(tlen)) return ParseError::BAD_TRANSFORM;
            if ((tlast != 0 && tlast != 3) || tlen < 8 || tlen - 4u > pr.left())
                return ParseError::BAD_TRANSFORM;
            std::span<const uint8_t> tbody;
            pr.bytes(tlen - 4u, tbody);
            Reader tr(tbody);
            tr.u8(ttype);
            tr.u8(tres2);
            tr.u16(tid);
            Transform t{static_cast<TransformType>(ttype), tid, std::nullopt};
            // §3.3.5 data attributes: TV when the AF bit is set, else TLV.
            while (tr.left() > 0) {
                uint16_t atype = 0, aval = 0;
                if (!tr.u16(atype) || !tr.u16(aval)) return ParseError::BAD_ATTRIBUTE;
                if (atype & 0x8000) {
                    if ((atype & 0x7fff) == ATTR_KEY_LENGTH) t.key_len_bits = aval;
                } else {
                    std::span<const uint8_t> skip;
                    if (!tr.bytes(aval, skip)) return ParseError::BAD_ATTRIBUTE;
                }
            }
            p.transforms.push_back(t);
        }
        if (tlast != 0 || pr.left() != 0) return ParseError::BAD_TRANSFORM;
        sa.proposals.push_back(std::move(p));
    }
    if (r.left() != 0) return ParseError::BAD_PROPOSAL;
    return ParseError::OK;
}

ParseError parse_ts(std::span<const uint8_t> body, TsPayload& ts) {
    Reader r(body);
    uint8_t count = 0, res = 0;
    uint16_t res2 = 0;
    if (!r.u8(count) || !r.u8(res) || !r.u16(res2)) return ParseError::BAD_PAYLOAD_LENGTH;
    for (unsigned i = 0; i < count; ++i) {
        TrafficSelector t;
        uint16_t len = 0;
        if (!r.u8(t.ts_type) || !r.u8(t.ip_proto) || !r.u16(len))
            return ParseError::BAD_TRAFFIC_SELECTOR;
        size_t alen = t.ts_type == TS_IPV4_ADDR_RANGE ? 4 : t.ts_type == TS_IPV6_ADDR_RANGE ? 16 : 0;
        if (alen == 0 || len != 8 + 2 * alen) return ParseError::BAD_TRAFFIC_SELECTOR;
        if (!r.u16(t.start_port) || !r.u16(t.end_port) || !r.bytes(alen, t.start_addr) ||
            !r.bytes(alen, t.end_addr))
            return ParseError::BAD_TRAFFIC_SELECTOR;
        ts.selectors.push_back(std::move(t));
    }
    if (r.left() != 0) return ParseError::BAD_TRAFFIC_SELECTOR;
    return ParseError::OK;
}

ParseError parse_body(PayloadType type, std::span<const uint8_t> body, size_t offset,
                      PayloadType next, Payload& out) {
    Reader r(body);
    switch (type) {
        case PayloadType::SA: {
            SaPayload sa;
            if (auto e = parse_sa(body, sa); e != ParseError::OK) return e;
            out.body = std::move(sa);
            return ParseError::OK;
        }
        case PayloadType::KE: {
            KePayload ke;
            uint16_t res = 0;
            if (!r.u16(ke.group) || !r.u16(res)) return ParseError::BAD_PAYLOAD_LENGTH;
            r.bytes(r.left(), ke.data);
            out.body = std::move(ke);
            return ParseError::OK;
        }
        case PayloadType::IDi:
        case PayloadType::IDr: {
            IdPayload id;
            uint8_t t = 0;
            std::span<const uint8_t> res;
            if (!r.u8(t) || !r.bytes(3, res)) return ParseError::BAD_PAYLOAD_LENGTH;
            id.type = static_cast<IdType>(t);
            r.bytes(r.left(), id.data);
            out.body = std::move(id);
            return ParseError::OK;
        }
        case PayloadType::AUTH: {
            AuthPayload a;
            uint8_t m = 0;
            std::span<const uint8_t> res;
            if (!r.u8(m) || !r.bytes(3, res)) return ParseError::BAD_PAYLOAD_LENGTH;
            a.method = static_cast<AuthMethod>(m);
            r.bytes(r.left(), a.data);
            out.body = std::move(a);
            return ParseError::OK;
        }
        case PayloadType::NONCE: {
            NoncePayload n;
            r.bytes(r.left(), n.data);
            out.body = std::move(n);
            return ParseError::OK;
        }
        case PayloadType::NOTIFY: {
            NotifyPayload n;
            uint8_t proto = 0, spi_size = 0;
            uint16_t t = 0;
            if (!r.u8(proto) || !r.u8(spi_size) || !r.u16(t)) return ParseError::BAD_PAYLOAD_LENGTH;
            if (!r.bytes(spi_size, n.spi)) return ParseError::BAD_NOTIFY;
            n.protocol = static_cast<ProtocolId>(proto);
            n.type = static_cast<NotifyType>(t);
            r.bytes(r.left(), n.data);
            out.body = std::move(n);
            return ParseError::OK;
        }
        case PayloadType::DELETE: {
            DeletePayload d;
            uint8_t proto = 0;
            uint16_t num = 0;
            if (!r.u8(proto) || !r.u8(d.spi_size) || !r.u16(num)) return ParseError::BAD_PAYLOAD_LENGTH;
            d.protocol = static_cast<ProtocolId>(proto);
            if (static_cast<size_t>(num) * d.spi_size != r.left()) return ParseError::BAD_DELETE;
            for (unsigned i = 0; i < num; ++i) {
                Bytes spi;
                r.bytes(d.spi_size, spi);
                d.spis.push_back(std::move(spi));
            }
            out.body = std::move(d);
            return ParseError::OK;
        }
        case PayloadType::TSi:
        case PayloadType::TSr: {
            TsPayload ts;
            if (auto e = parse_ts(body, ts); e != ParseError::OK) return e;
            out.body = std::move(ts);
            return ParseError::OK;
        }
        case PayloadType::CP: {
            CpPayload cp;
            std::span<const uint8_t> res;
            if (!r.u8(cp.cfg_type) || !r.bytes(3, res)) return ParseError::BAD_PAYLOAD_LENGTH;
            while (r.left() > 0) {
                CpAttribute a;
                uint16_t t = 0, len = 0;
                if (!r.u16(t) || !r.u16(len) || !r.bytes(len, a.value))
                    return ParseError::BAD_CP_ATTRIBUTE;
                a.type = t & 0x7fff;
                cp.attrs.push_back(std::move(a));
            }
            out.body = std::move(cp);
            return ParseError::OK;
        }
        case PayloadType::SK: {
            SkPayload sk;
            sk.first_inner = next;
            sk.offset = offset;
            r.bytes(r.left(), sk.body);
            out.body = std::move(sk);
            return ParseError::OK;
        }
        default: {
            RawPayload raw;
            r.bytes(r.left(), raw.body);
            out.body = std::move(raw);
            return ParseError::OK;
        }
    }
}

bool known_payload(PayloadType t) noexcept {
    const auto v = static_cast<uint8_t>(t);
    return (v >= 33 && v <= 48) || v == 53;
}

// No valid message needs more; a bound keeps a hostile chain of 4-byte payloads cheap.
constexpr size_t MAX_PAYLOADS = 64;

}  // namespace

ParseError parse_payload_chain(PayloadType first, std::span<const uint8_t> data,
                               std::vector<Payload>& out, size_t base_offset) {
    Reader r(data);
    PayloadType type = first;
    while (type != PayloadType::NONE) {
        if (out.size() >= MAX_PAYLOADS) return ParseError::TOO_MANY_PAYLOADS;
        const size_t start = r.pos();
        uint8_t next = 0, flags = 0;
        uint16_t len = 0;
        if (!r.u8(next) || !r.u8(flags) || !r.u16(len)) return ParseError::TRUNCATED_PAYLOAD;
        if (len < GENERIC_HEADER_LEN) return ParseError::BAD_PAYLOAD_LENGTH;
        std::span<const uint8_t> body;
        if (!r.bytes(len - GENERIC_HEADER_LEN, body)) return ParseError::TRUNCATED_PAYLOAD;
        Payload p;
        p.type = type;
        p.critical = (flags & 0x80) != 0;
        // §2.5: unknown payloads are skipped unless critical.
        if (!known_payload(type) && p.critical) return ParseError::UNSUPPORTED_CRITICAL;
        if (auto e = parse_body(type, body, base_offset + start, static_cast<PayloadType>(next), p);
            e != ParseError::OK)
            return e;
        out.push_back(std::move(p));
        // §3.14: SK's next payload names its first inner payload; SK ends the chain.
        if (type == PayloadType::SK) {
            if (r.left() != 0) return ParseError::SK_NOT_LAST;
            return ParseError::OK;
        }
        type = static_cast<PayloadType>(next);
    }
    // Trailing bytes after the last payload make the lengths inconsistent.
    if (r.left() != 0) return ParseError::BAD_PAYLOAD_LENGTH;
    return ParseError::OK;
}

ParseError parse_message(std::span<const uint8_t> data, Message& out) {
    out = Message{};
    if (auto e = parse_header(data, out.header); e != ParseError::OK) return e;
    if (out.header.length != data.size()) return ParseError::LENGTH_MISMATCH;
    return parse_payload_chain(out.header.next_payload, data.subspan(IKE_HEADER_LEN),
                               out.payloads, IKE_HEADER_LEN);
}

namespace {

void encode_transform(Bytes& o, const Transform& t, bool last) {
    const size_t at = o.size();
    wire::put_u8(o, last ? 0 : 3);
    wire::put_u8(o, 0);
    wire::put_u16(o, 0);
    wire::put_u8(o, static_cast<uint8_t>(t.type));
    wire::put_u8(o, 0);
    wire::put_u16(o, t.id);
    if (t.key_len_bits) {
        wire::put_u16(o, 0x8000 | ATTR_KEY_LENGTH);
        wire::put_u16(o, *t.key_len_bits);
    }
    wire::patch_u16(o, at + 2, static_cast<uint16_t>(o.size() - at));
}

void encode_body(Bytes& o, const PayloadBody& body) {
    std::visit(
        [&o](const auto& b) {
            using T = std::decay_t<decltype(b)>;
            if constexpr (std::is_same_v<T, SaPayload>) {
                for (size_t i = 0; i < b.proposals.size(); ++i) {
                    const Proposal& p = b.proposals[i];
                    const size_t at = o.size();
                    wire::put_u8(o, i + 1 == b.proposals.size() ? 0 : 2);
                    wire::put_u8(o, 0);
                    wire::put_u16(o, 0);
                    wire::put_u8(o, p.number);
                    wire::put_u8(o, static_cast<uint8_t>(p.protocol));
                    wire::put_u8(o, static_cast<uint8_t>(p.spi.size()));
                    wire::put_u8(o, static_cast<uint8_t>(p.transforms.size()));
                    wire::put_bytes(o, p.spi);
                    for (size_t t = 0; t < p.transforms.size(); ++t)
                        encode_transform(o, p.transforms[t], t + 1 == p.transforms.size());
                    wire::patch_u16(o, at + 2, static_cast<uint16_t>(o.size() - at));
                }
            } else if constexpr (std::is_same_v<T, KePayload>) {
                wire::put_u16(o, b.group);
                wire::put_u16(o, 0);
                wire::put_bytes(o, b.data);
            } else if constexpr (std::is_same_v<T, IdPayload>) {
                wire::put_u8(o, static_cast<uint8_t>(b.type));
                wire::put_u8(o, 0);
                wire::put_u16(o, 0);
                wire::put_bytes(o, b.data);
            } else if constexpr (std::is_same_v<T, AuthPayload>) {
                wire::put_u8(o, static_cast<uint8_t>(b.method));
                wire::put_u8(o, 0);
                wire::put_u16(o, 0);
                wire::put_bytes(o, b.data);
            } else if constexpr (std::is_same_v<T, NoncePayload>) {
                wire::put_bytes(o, b.data);
            } else if constexpr (std::is_same_v<T, NotifyPayload>) {
                wire::put_u8(o, static_cast<uint8_t>(b.protocol));
                wire::put_u8(o, static_cast<uint8_t>(b.spi.size()));
                wire::put_u16(o, static_cast<uint16_t>(b.type));
                wire::put_bytes(o, b.spi);
                wire::put_bytes(o, b.data);
            } else if constexpr (std::is_same_v<T, DeletePayload>) {
                wire::put_u8(o, static_cast<uint8_t>(b.protocol));
                wire::put_u8(o, b.spi_size);
                wire::put_u16(o, static_cast<uint16_t>(b.spis.size()));
                for (const auto& s : b.spis) wire::put_bytes(o, s);
            } else if constexpr (std::is_same_v<T, TsPayload>) {
                wire::put_u8(o, static_cast<uint8_t>(b.selectors.size()));
                wire::put_u8(o, 0);
                wire::put_u16(o, 0);
                for (const auto& t : b.selectors) {
                    wire::put_u8(o, t.ts_type);
                    wire::put_u8(o, t.ip_proto);
                    wire::put_u16(o, static_cast<uint16_t>(8 + t.start_addr.size() + t.end_addr.size()));
                    wire::put_u16(o, t.start_port);
                    wire::put_u16(o, t.end_port);
                    wire::put_bytes(o, t.start_addr);
                    wire::put_bytes(o, t.end_addr);
                }
            } else if constexpr (std::is_same_v<T, CpPayload>) {
                wire::put_u8(o, b.cfg_type);
                wire::put_u8(o, 0);
                wire::put_u16(o, 0);
                for (const auto& a : b.attrs) {
                    wire::put_u16(o, a.type & 0x7fff);
                    wire::put_u16(o, static_cast<uint16_t>(a.value.size()));
                    wire::put_bytes(o, a.value);
                }
            } else if constexpr (std::is_same_v<T, SkPayload>) {
                throw std::logic_error("encode_payload_chain: SK payloads are built by sk_payload");
            } else {
                wire::put_bytes(o, b.body);
            }
        },
        body);
}

}  // namespace

Bytes encode_payload_chain(const std::vector<Payload>& payloads, PayloadType& first) {
    Bytes o;
    first = payloads.empty() ? PayloadType::NONE : payloads.front().type;
    for (size_t i = 0; i < payloads.size(); ++i) {
        const size_t at = o.size();
        const PayloadType next = i + 1 < payloads.size() ? payloads[i + 1].type : PayloadType::NONE;
        wire::put_u8(o, static_cast<uint8_t>(next));
        wire::put_u8(o, payloads[i].critical ? 0x80 : 0);
        wire::put_u16(o, 0);
        encode_body(o, payloads[i].body);
        if (o.size() - at > 0xffff) throw std::length_error("IKE payload longer than 65535 bytes");
        wire::patch_u16(o, at + 2, static_cast<uint16_t>(o.size() - at));
    }
    return o;
}

void encode_header(const Header& h, std::span<uint8_t> out) noexcept {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(h.spi_i >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<uint8_t>(h.spi_r >> (56 - 8 * i));
    out[16] = static_cast<uint8_t>(h.next_payload);
    out[17] = h.version;
    out[18] = static_cast<uint8_t>(h.exchange);
    out[19] = h.flags;
    wire::patch_u32(out, 20, h.message_id);
    wire::patch_u32(out, 24, h.length);
}

Bytes encode_message(Header header, const std::vector<Payload>& payloads) {
    PayloadType first;
    Bytes chain = encode_payload_chain(payloads, first);
    Bytes out(IKE_HEADER_LEN);
    header.next_payload = first;
    header.length = static_cast<uint32_t>(IKE_HEADER_LEN + chain.size());
    encode_header(header, out);
    out.insert(out.end(), chain.begin(), chain.end());
    return out;
}

Payload make_notify(NotifyType type, Bytes data, ProtocolId proto, Bytes spi) {
    return Payload{PayloadType::NOTIFY, false, NotifyPayload{proto, std::move(spi), type, std::move(data)}};
}

}  // namespace espgw::ike

#include "control/radius/packet.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace espgw::radius {

namespace {

inline constexpr size_t kMsgAuthLen = 16;

void put_u16(Bytes& o, size_t at, size_t v) {
    o[at] = static_cast<uint8_t>(v >> 8);
    o[at + 1] = static_cast<uint8_t>(v);
}

// Code, Identifier, Length placeholder, Authenticator, then the attributes.
Bytes serialize(const Packet& p, const Authenticator& auth, bool with_msg_auth) {
    Bytes o;
    o.reserve(256);
    o.push_back(static_cast<uint8_t>(p.code));
    o.push_back(p.id);
    o.push_back(0);
    o.push_back(0);
    o.insert(o.end(), auth.begin(), auth.end());
    for (const auto& a : p.attrs) {
        if (a.type == attr::MESSAGE_AUTHENTICATOR) continue;  // (re)computed below
        if (a.value.size() > kMaxAttrValue) return {};
        o.push_back(a.type);
        o.push_back(static_cast<uint8_t>(a.value.size() + 2));
        o.insert(o.end(), a.value.begin(), a.value.end());
    }
    if (with_msg_auth) {
        o.push_back(attr::MESSAGE_AUTHENTICATOR);
        o.push_back(2 + kMsgAuthLen);
        o.insert(o.end(), kMsgAuthLen, 0);
    }
    if (o.size() > kMaxPacketLen) return {};
    put_u16(o, 2, o.size());
    return o;
}

// Offset of the Message-Authenticator value in an encoded packet, or 0.
size_t msg_auth_offset(std::span<const uint8_t> d) {
    size_t pos = kHeaderLen;
    while (pos + 2 <= d.size()) {
        if (d[pos] == attr::MESSAGE_AUTHENTICATOR) return pos + 2;
        pos += d[pos + 1];
    }
    return 0;
}

// RFC 3579 §3.2: HMAC-MD5 over the packet with the Message-Authenticator zeroed and,
// in the Authenticator field, `auth_field` (the Request Authenticator for requests
// and for replies alike).
std::array<uint8_t, 16> compute_msg_auth(std::span<const uint8_t> packet, size_t ma_off, const Authenticator& auth_field,
                                         std::span<const uint8_t> secret) {
    Bytes tmp(packet.begin(), packet.end());
    std::memcpy(tmp.data() + 4, auth_field.data(), 16);
    std::fill(tmp.begin() + static_cast<ptrdiff_t>(ma_off), tmp.begin() + static_cast<ptrdiff_t>(ma_off + kMsgAuthLen),
              0);
    return hmac_md5(secret, tmp);
}

}  // namespace

std::array<uint8_t, 16> md5(std::span<const std::span<const uint8_t>> parts) {
    std::array<uint8_t, 16> out{};
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (ctx && EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) == 1) {
        for (auto p : parts) EVP_DigestUpdate(ctx, p.data(), p.size());
        EVP_DigestFinal_ex(ctx, out.data(), &n);
    }
    EVP_MD_CTX_free(ctx);
    return out;
}

std::array<uint8_t, 16> hmac_md5(std::span<const uint8_t> key, std::span<const uint8_t> data) {
    std::array<uint8_t, 16> out{};
    unsigned int n = 0;
    static const uint8_t empty = 0;
    HMAC(EVP_md5(), key.empty() ? &empty : key.data(), static_cast<int>(key.size()), data.data(), data.size(),
         out.data(), &n);
    return out;
}

const char* to_string(DecodeError e) noexcept {
    switch (e) {
        case DecodeError::NONE: return "ok";
        case DecodeError::MALFORMED: return "malformed";
        case DecodeError::BAD_AUTHENTICATOR: return "bad response authenticator";
        case DecodeError::BAD_MESSAGE_AUTH: return "bad message-authenticator";
    }
    return "?";
}

const Attribute* Packet::find(uint8_t type) const noexcept {
    for (const auto& a : attrs)
        if (a.type == type) return &a;
    return nullptr;
}

std::vector<const Attribute*> Packet::all(uint8_t type) const {
    std::vector<const Attribute*> v;
    for (const auto& a : attrs)
        if (a.type == type) v.push_back(&a);
    return v;
}

void Packet::add(uint8_t type, std::span<const uint8_t> value) {
    attrs.push_back(Attribute{type, Bytes(value.begin(), value.end())});
}

void Packet::add_string(uint8_t type, std::string_view s) {
    // RFC 2865 §5: text attributes are 1..253 octets; longer names are cut.
    s = s.substr(0, kMaxAttrValue);
    add(type, std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

void Packet::add_u32(uint8_t type, uint32_t v) {
    const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                          static_cast<uint8_t>(v)};
    add(type, b);
}

void Packet::add_eap(std::span<const uint8_t> eap) {
    // RFC 3579 §3.1: an EAP packet longer than 253 octets spans consecutive attributes.
    while (!eap.empty()) {
        const size_t n = std::min(eap.size(), kMaxAttrValue);
        add(attr::EAP_MESSAGE, eap.first(n));
        eap = eap.subspan(n);
    }
}

Bytes Packet::eap() const {
    Bytes out;
    for (const auto& a : attrs)
        if (a.type == attr::EAP_MESSAGE) out.insert(out.end(), a.value.begin(), a.value.end());
    return out;
}

Bytes encode_access_request(const Packet& p, std::span<const uint8_t> secret) {
    Bytes o = serialize(p, p.authenticator, true);
    if (o.empty()) return o;
    const size_t off = o.size() - kMsgAuthLen;
    const auto mac = compute_msg_auth(o, off, p.authenticator, secret);
    std::memcpy(o.data() + off, mac.data(), kMsgAuthLen);
    return o;
}

Bytes encode_accounting_request(const Packet& p, std::span<const uint8_t> secret) {
    // RFC 3579 §3.2 / RFC 5176 §3.1 style: the Message-Authenticator over the packet with
    // a zero Authenticator field; then (RFC 2866 §3) the Request Authenticator is MD5
    // over the packet with 16 zero octets in its place, followed by the secret.
    Bytes o = serialize(p, Authenticator{}, true);
    if (o.empty()) return o;
    const size_t off = o.size() - kMsgAuthLen;
    const auto mac = compute_msg_auth(o, off, Authenticator{}, secret);
    std::memcpy(o.data() + off, mac.data(), kMsgAuthLen);
    const std::span<const uint8_t> parts[] = {o, secret};
    const auto a = md5(parts);
    std::memcpy(o.data() + 4, a.data(), 16);
    return o;
}

std::optional<Packet> parse(std::span<const uint8_t> d) {
    if (d.size() < kHeaderLen) return std::nullopt;
    const size_t len = static_cast<size_t>(d[2]) << 8 | d[3];
    // RFC 2865 §3: shorter than Length is discarded, longer is truncated to Length.
    if (len < kHeaderLen || len > kMaxPacketLen || len > d.size()) return std::nullopt;
    Packet p;
    p.code = static_cast<Code>(d[0]);
    p.id = d[1];
    std::memcpy(p.authenticator.data(), d.data() + 4, 16);
    size_t pos = kHeaderLen;
    while (pos < len) {
        if (pos + 2 > len) return std::nullopt;
        const uint8_t t = d[pos];
        const uint8_t l = d[pos + 1];
        if (l < 2 || pos + l > len) return std::nullopt;
        p.attrs.push_back(Attribute{t, Bytes(d.begin() + static_cast<ptrdiff_t>(pos + 2),
                                             d.begin() + static_cast<ptrdiff_t>(pos + l))});
        pos += l;
    }
    return p;
}

std::optional<Packet> decode_reply(std::span<const uint8_t> data, const Authenticator& req_auth,
                                   std::span<const uint8_t> secret, DecodeError* err) {
    DecodeError dummy;
    if (!err) err = &dummy;
    *err = DecodeError::MALFORMED;
    auto p = parse(data);
    if (!p) return std::nullopt;
    const size_t len = static_cast<size_t>(data[2]) << 8 | data[3];
    const auto d = data.first(len);

    // RFC 2865 §3: ResponseAuth = MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
    const std::span<const uint8_t> parts[] = {d.first(4), req_auth, d.subspan(kHeaderLen), secret};
    const auto expect = md5(parts);
    if (!crypto::ct_equal(expect.data(), d.data() + 4, 16)) {
        *err = DecodeError::BAD_AUTHENTICATOR;
        return std::nullopt;
    }

    // RFC 3579 §3.2: a reply with EAP-Message lacking a valid Message-Authenticator is
    // silently discarded; one present elsewhere is checked too.
    const auto mas = p->all(attr::MESSAGE_AUTHENTICATOR);
    if (mas.size() > 1 || (mas.empty() && p->find(attr::EAP_MESSAGE))) {
        *err = DecodeError::BAD_MESSAGE_AUTH;
        return std::nullopt;
    }
    if (!mas.empty()) {
        if (mas[0]->value.size() != kMsgAuthLen) {
            *err = DecodeError::BAD_MESSAGE_AUTH;
            return std::nullopt;
        }
        const size_t off = msg_auth_offset(d);
        const auto mac = compute_msg_auth(d, off, req_auth, secret);
        if (!crypto::ct_equal(mac.data(), d.data() + off, kMsgAuthLen)) {
            *err = DecodeError::BAD_MESSAGE_AUTH;
            return std::nullopt;
        }
    }
    // RFC 2865 §5.33: Proxy-State belongs to proxies on the path; a client ignores it.
    std::erase_if(p->attrs, [](const Attribute& a) { return a.type == attr::PROXY_STATE; });
    *err = DecodeError::NONE;
    return p;
}

Bytes encode_reply(const Packet& p, const Authenticator& req_auth, std::span<const uint8_t> secret,
                   bool with_message_auth) {
    Bytes o = serialize(p, req_auth, with_message_auth);
    if (o.empty()) return o;
    if (with_message_auth) {
        const size_t off = o.size() - kMsgAuthLen;
        const auto mac = compute_msg_auth(o, off, req_auth, secret);
        std::memcpy(o.data() + off, mac.data(), kMsgAuthLen);
    }
    const std::span<const uint8_t> parts[] = {std::span<const uint8_t>(o).first(4), req_auth,
                                              std::span<const uint8_t>(o).subspan(kHeaderLen), secret};
    const auto a = md5(parts);
    std::memcpy(o.data() + 4, a.data(), 16);
    return o;
}

std::optional<Bytes> vendor_attr(const Packet& p, uint32_t vendor_id, uint8_t vendor_type) {
    for (const auto* a : p.all(attr::VENDOR_SPECIFIC)) {
        const auto& v = a->value;
        if (v.size() < 4) continue;
        const uint32_t vid = static_cast<uint32_t>(v[0]) << 24 | static_cast<uint32_t>(v[1]) << 16 |
                             static_cast<uint32_t>(v[2]) << 8 | v[3];
        if (vid != vendor_id) continue;
        // RFC 2865 §5.26: Vendor-Type(1) Vendor-Length(1) Value, possibly several.
        size_t pos = 4;
        while (pos < v.size()) {
            if (pos + 2 > v.size()) return std::nullopt;
            const uint8_t t = v[pos];
            const uint8_t l = v[pos + 1];
            if (l < 2 || pos + l > v.size()) return std::nullopt;
            if (t == vendor_type)
                return Bytes(v.begin() + static_cast<ptrdiff_t>(pos + 2), v.begin() + static_cast<ptrdiff_t>(pos + l));
            pos += l;
        }
    }
    return std::nullopt;
}

std::optional<crypto::SecretBytes> decrypt_mppe_key(std::span<const uint8_t> value, std::span<const uint8_t> secret,
                                                    const Authenticator& req_auth) {
    // RFC 2548 §2.4.2: Salt (2, most significant bit set) | String (multiple of 16).
    if (value.size() < 2 + 16 || (value.size() - 2) % 16 != 0 || !(value[0] & 0x80)) return std::nullopt;
    const auto salt = value.first(2);
    const auto c = value.subspan(2);
    crypto::SecretBytes plain(c.size());
    auto out = plain.mutable_bytes();
    std::span<const uint8_t> prev;
    for (size_t i = 0; i < c.size(); i += 16) {
        std::array<uint8_t, 16> b;
        if (i == 0) {
            const std::span<const uint8_t> parts[] = {secret, req_auth, salt};
            b = md5(parts);
        } else {
            const std::span<const uint8_t> parts[] = {secret, prev};
            b = md5(parts);
        }
        for (size_t j = 0; j < 16; ++j) out[i + j] = c[i + j] ^ b[j];
        prev = c.subspan(i, 16);
        crypto::secure_wipe(b.data(), b.size());
    }
    const size_t key_len = out[0];
    if (key_len == 0 || key_len + 1 > out.size()) return std::nullopt;
    return crypto::SecretBytes(std::span<const uint8_t>(out).subspan(1, key_len));
}

Bytes encrypt_mppe_key(std::span<const uint8_t> key, std::span<const uint8_t> secret, const Authenticator& req_auth,
                       uint16_t salt) {
    Bytes plain;
    plain.push_back(static_cast<uint8_t>(key.size()));
    plain.insert(plain.end(), key.begin(), key.end());
    while (plain.size() % 16) plain.push_back(0);
    Bytes out = {static_cast<uint8_t>((salt >> 8) | 0x80), static_cast<uint8_t>(salt)};
    const std::span<const uint8_t> s(out.data(), 2);
    const Bytes salt_b(s.begin(), s.end());
    Bytes prev;
    for (size_t i = 0; i < plain.size(); i += 16) {
        std::array<uint8_t, 16> b;
        if (i == 0) {
            const std::span<const uint8_t> parts[] = {secret, req_auth, salt_b};
            b = md5(parts);
        } else {
            const std::span<const uint8_t> parts[] = {secret, prev};
            b = md5(parts);
        }
        prev.clear();
        for (size_t j = 0; j < 16; ++j) prev.push_back(plain[i + j] ^ b[j]);
        out.insert(out.end(), prev.begin(), prev.end());
    }
    crypto::secure_wipe(plain.data(), plain.size());
    return out;
}

}  // namespace espgw::radius

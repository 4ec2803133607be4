#include "control/ike/crypto_keys.hpp"

#include <string_view>

namespace espgw::ike {

namespace {
crypto::SecretBytes slice(std::span<const uint8_t> all, size_t& at, size_t n) {
    crypto::SecretBytes s(all.subspan(at, n));
    at += n;
    return s;
}
void append_be64(std::vector<uint8_t>& v, uint64_t x) {
    for (int i = 56; i >= 0; i -= 8) v.push_back(static_cast<uint8_t>(x >> i));
}
}  // namespace

namespace {
/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
IkeSaKeys expand_ike_sa_keys(const Prf& prf, const Algorithms& ike, const crypto::SecretBytes& skeyseed,
                             std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i,
                             uint64_t spi_r) {
    std::vector<uint8_t> seed(ni.begin(), ni.end());
    seed.insert(seed.end(), nr.begin(), nr.end());
    append_be64(seed, spi_i);
    append_be64(seed, spi_r);
    const size_t p = prf.out_len(), a = integ_key_bytes(ike.integ), e = encr_key_bytes(ike);
    crypto::SecretBytes all = prf.plus(skeyseed.bytes(), seed, 3 * p + 2 * a + 2 * e);
    size_t at = 0;
    IkeSaKeys k;
    k.sk_d = slice(all.bytes(), at, p);
    k.sk_ai = slice(all.bytes(), at, a);
    k.sk_ar = slice(all.bytes(), at, a);
    k.sk_ei = slice(all.bytes(), at, e);
    k.sk_er = slice(all.bytes(), at, e);
    k.sk_pi = slice(all.bytes(), at, p);
    k.sk_pr = slice(all.bytes(), at, p);
    return k;
}
}  // namespace

IkeSaKeys derive_ike_sa_keys(const Algorithms& ike, std::span<const uint8_t> ni,
                             std::span<const uint8_t> nr, std::span<const uint8_t> g_ir,
                             uint64_t spi_i, uint64_t spi_r) {
    const Prf prf(ike.prf);
    // §2.14: HMAC PRFs take the whole Ni | Nr as key (no fixed key size).
    std::vector<uint8_t> nonces(ni.begin(), ni.end());
    nonces.insert(nonces.end(), nr.begin(), nr.end());
    std::vector<uint8_t> skeyseed_v = prf.compute(nonces, g_ir);
    crypto::SecretBytes skeyseed(skeyseed_v);
    crypto::secure_wipe(skeyseed_v.data(), skeyseed_v.size());
    return expand_ike_sa_keys(prf, ike, skeyseed, ni, nr, spi_i, spi_r);
}

IkeSaKeys derive_rekeyed_ike_sa_keys(const Algorithms& ike, std::span<const uint8_t> old_sk_d,
                                     std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                                     std::span<const uint8_t> nr, uint64_t spi_i, uint64_t spi_r) {
    const Prf prf(ike.prf);
    std::vector<uint8_t> data(g_ir.begin(), g_ir.end());
    data.insert(data.end(), ni.begin(), ni.end());
    data.insert(data.end(), nr.begin(), nr.end());
    std::vector<uint8_t> skeyseed_v = prf.compute(old_sk_d, data);
    crypto::secure_wipe(data.data(), data.size());
    crypto::SecretBytes skeyseed(skeyseed_v);
    crypto::secure_wipe(skeyseed_v.data(), skeyseed_v.size());
    return expand_ike_sa_keys(prf, ike, skeyseed, ni, nr, spi_i, spi_r);
}

ChildSaKeys derive_child_sa_keys(const Prf& prf, std::span<const uint8_t> sk_d, const Algorithms& esp,
                                 std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                                 std::span<const uint8_t> g_ir_new) {
    std::vector<uint8_t> seed(g_ir_new.begin(), g_ir_new.end());
    seed.insert(seed.end(), ni.begin(), ni.end());
    seed.insert(seed.end(), nr.begin(), nr.end());
    const size_t e = encr_key_bytes(esp), a = esp.aead() ? 0 : integ_key_bytes(esp.integ);
    crypto::SecretBytes all = prf.plus(sk_d, seed, 2 * e + 2 * a);
    crypto::secure_wipe(seed.data(), seed.size());
    size_t at = 0;
    ChildSaKeys k;
    k.encr_i = slice(all.bytes(), at, e);
    k.integ_i = slice(all.bytes(), at, a);
    k.encr_r = slice(all.bytes(), at, e);
    k.integ_r = slice(all.bytes(), at, a);
    return k;
}

std::vector<uint8_t> psk_auth(const Prf& prf, std::span<const uint8_t> psk,
                              std::span<const uint8_t> real_message, std::span<const uint8_t> peer_nonce,
                              std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body) {
    static constexpr std::string_view pad = "Key Pad for IKEv2";
    std::vector<uint8_t> maced_id = prf.compute(sk_p, id_body);
    std::vector<uint8_t> octets(real_message.begin(), real_message.end());
    octets.insert(octets.end(), peer_nonce.begin(), peer_nonce.end());
    octets.insert(octets.end(), maced_id.begin(), maced_id.end());
    std::vector<uint8_t> key = prf.compute(psk, std::span(reinterpret_cast<const uint8_t*>(pad.data()), pad.size()));
    std::vector<uint8_t> auth = prf.compute(key, octets);
    crypto::secure_wipe(key.data(), key.size());
    return auth;
}

}  // namespace espgw::ike

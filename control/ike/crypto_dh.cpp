#include "control/ike/crypto_dh.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/bn.h>
#include <openssl/dh.h>

#include <memory>
#include <stdexcept>

namespace espgw::ike {

namespace {

struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); } };
struct PkeyFree { void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); } };
struct BldFree { void operator()(OSSL_PARAM_BLD* b) const noexcept { OSSL_PARAM_BLD_free(b); } };
struct ParamFree { void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); } };
struct BnFree { void operator()(BIGNUM* b) const noexcept { BN_clear_free(b); } };
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

enum class Kind { MODP, ECP, X25519, NONE };

struct GroupInfo {
    Kind kind;
    const char* name;  // OpenSSL group name
    size_t pub_len;
    size_t coord_len;
};

GroupInfo info(DhGroup g) noexcept {
    switch (g) {
        // RFC 2409 §6.2 group 2 has no OpenSSL name: its p and g are given explicitly.
        case DhGroup::MODP_1024: return {Kind::MODP, nullptr, 128, 128};
        case DhGroup::MODP_1536: return {Kind::MODP, "modp_1536", 192, 192};
        case DhGroup::MODP_2048: return {Kind::MODP, "modp_2048", 256, 256};
        case DhGroup::MODP_3072: return {Kind::MODP, "modp_3072", 384, 384};
        case DhGroup::ECP_256: return {Kind::ECP, "prime256v1", 64, 32};
        case DhGroup::ECP_384: return {Kind::ECP, "secp384r1", 96, 48};
        case DhGroup::ECP_521: return {Kind::ECP, "secp521r1", 132, 66};
        case DhGroup::CURVE25519: return {Kind::X25519, "X25519", 32, 32};
        default: return {Kind::NONE, nullptr, 0, 0};
    }
}

// RFC 2409 §6.2, the second Oakley group: 2^1024 - 2^960 - 1 + 2^64 * (floor(2^894 pi) + 129093).
constexpr const char* MODP_1024_P =
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";

/// Adds the group's domain parameters to `bld`: its OpenSSL name, or p and g.
bool push_group(OSSL_PARAM_BLD* bld, const GroupInfo& gi, std::unique_ptr<BIGNUM, BnFree>& p,
                std::unique_ptr<BIGNUM, BnFree>& g) {
    if (gi.name) return OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, gi.name, 0) == 1;
    BIGNUM* pp = nullptr;
    if (BN_hex2bn(&pp, MODP_1024_P) == 0) return false;
    p.reset(pp);
    g.reset(BN_new());
    if (!g || BN_set_word(g.get(), 2) != 1) return false;
    return OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_P, p.get()) == 1 &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_FFC_G, g.get()) == 1;
}

const char* keytype(Kind k) {
    return k == Kind::MODP ? "DH" : k == Kind::ECP ? "EC" : "X25519";
}

// RFC 5903 §7: the KE payload carries x||y; OpenSSL wants the SEC1 uncompressed form.
std::vector<uint8_t> to_sec1(std::span<const uint8_t> xy) {
    std::vector<uint8_t> v;
    v.reserve(xy.size() + 1);
    v.push_back(0x04);
    v.insert(v.end(), xy.begin(), xy.end());
    return v;
}

}  // namespace

bool dh_supported(DhGroup g) noexcept { return info(g).kind != Kind::NONE; }
size_t dh_public_len(DhGroup g) noexcept { return info(g).pub_len; }

DhKey DhKey::generate(DhGroup g) {
    const GroupInfo gi = info(g);
    if (gi.kind == Kind::NONE) throw std::invalid_argument("unsupported DH group");
    if (gi.kind == Kind::MODP && !gi.name) {
        // Explicit p, g: a parameters-only key first, then a key pair in that domain.
        std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
        std::unique_ptr<BIGNUM, BnFree> p, gen;
        if (!bld || !push_group(bld.get(), gi, p, gen)) throw std::runtime_error("DH group params failed");
        std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
        CtxPtr pctx(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
        EVP_PKEY* dom = nullptr;
        if (!pctx || !params || EVP_PKEY_fromdata_init(pctx.get()) <= 0 ||
            EVP_PKEY_fromdata(pctx.get(), &dom, EVP_PKEY_KEY_PARAMETERS, params.get()) <= 0)
            throw std::runtime_error("DH group params failed");
        KeyPtr domain(dom);
        CtxPtr kctx(EVP_PKEY_CTX_new_from_pkey(nullptr, domain.get(), nullptr));
        EVP_PKEY* k = nullptr;
        if (!kctx || EVP_PKEY_keygen_init(kctx.get()) <= 0 || EVP_PKEY_generate(kctx.get(), &k) <= 0)
            throw std::runtime_error("DH keygen failed");
        return DhKey(g, k);
    }
    CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, keytype(gi.kind), nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) throw std::runtime_error("DH keygen init failed");
    if (gi.kind != Kind::X25519) {
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(gi.name), 0),
            OSSL_PARAM_construct_end()};
        if (EVP_PKEY_CTX_set_params(ctx.get(), params) <= 0) throw std::runtime_error("DH group params failed");
    }
    EVP_PKEY* k = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &k) <= 0) throw std::runtime_error("DH keygen failed");
    return DhKey(g, k);
}

DhKey DhKey::from_private(DhGroup g, std::span<const uint8_t> priv, std::span<const uint8_t> pub) {
    const GroupInfo gi = info(g);
    if (gi.kind == Kind::NONE) throw std::invalid_argument("unsupported DH group");
    if (gi.kind == Kind::X25519) {
        EVP_PKEY* k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size());
        if (!k) throw std::invalid_argument("bad X25519 private key");
        return DhKey(g, k);
    }
    std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
    std::unique_ptr<BIGNUM, BnFree> bn_priv(BN_bin2bn(priv.data(), static_cast<int>(priv.size()), nullptr));
    std::unique_ptr<BIGNUM, BnFree> bn_pub, dom_p, dom_g;
    std::vector<uint8_t> sec1;
    if (!push_group(bld.get(), gi, dom_p, dom_g)) throw std::invalid_argument("bad DH group");
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, bn_priv.get());
    if (gi.kind == Kind::ECP) {
        sec1 = to_sec1(pub);
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, sec1.data(), sec1.size());
    } else {
        bn_pub.reset(BN_bin2bn(pub.data(), static_cast<int>(pub.size()), nullptr));
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, bn_pub.get());
    }
    std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld.get()));
    CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, keytype(gi.kind), nullptr));
    EVP_PKEY* k = nullptr;
    if (!ctx || !params || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_KEYPAIR, params.get()) <= 0)
        throw std::invalid_argument("bad DH key pair");
    return DhKey(g, k);
}

DhKey::DhKey(DhKey&& o) noexcept : group_(o.group_), key_(o.key_) { o.key_ = nullptr; }
DhKey& DhKey::operator=(DhKey&& o) noexcept {
    if (this != &o) {
        EVP_PKEY_free(key_);
        group_ = o.group_;
        key_ = o.key_;
        o.key_ = nullptr;
    }
    return *this;
}
DhKey::~DhKey() { EVP_PKEY_free(key_); }

std::vector<uint8_t> DhKey::public_value() const {
    const GroupInfo gi = info(group_);
    unsigned char* buf = nullptr;
    const size_t n = EVP_PKEY_get1_encoded_public_key(key_, &buf);
    if (n == 0 || buf == nullptr) throw std::runtime_error("DH public key export failed");
    std::vector<uint8_t> v(buf, buf + n);
    OPENSSL_free(buf);
    if (gi.kind == Kind::ECP) {
        if (v.size() != gi.pub_len + 1 || v[0] != 0x04) throw std::runtime_error("unexpected EC point form");
        v.erase(v.begin());
    } else if (v.size() < gi.pub_len) {
        v.insert(v.begin(), gi.pub_len - v.size(), 0);  // §3.4: fixed length, zero-padded
    }
    return v;
}

std::optional<crypto::SecretBytes> DhKey::shared_secret(std::span<const uint8_t> peer) const {
    const GroupInfo gi = info(group_);
    if (peer.size() != gi.pub_len) return std::nullopt;
    KeyPtr pk;
    if (gi.kind == Kind::X25519) {
        pk.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
    } else {
        pk.reset(EVP_PKEY_new());
        if (!pk || EVP_PKEY_copy_parameters(pk.get(), key_) <= 0) return std::nullopt;
        // For ECP this decodes the point and rejects one that is not on the curve.
        const std::vector<uint8_t> enc = gi.kind == Kind::ECP ? to_sec1(peer)
                                                               : std::vector<uint8_t>(peer.begin(), peer.end());
        if (EVP_PKEY_set1_encoded_public_key(pk.get(), enc.data(), enc.size()) <= 0) return std::nullopt;
        // MODP: reject 0, 1, p-1 and values >= p (small-subgroup confinement).
        CtxPtr chk(EVP_PKEY_CTX_new_from_pkey(nullptr, pk.get(), nullptr));
        if (!chk || EVP_PKEY_public_check(chk.get()) <= 0) return std::nullopt;
    }
    if (!pk) return std::nullopt;
    CtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0) return std::nullopt;
    if (gi.kind == Kind::MODP) {
        // §2.14: g^ir is the fixed-length big-endian value, padded with zeros.
        if (EVP_PKEY_CTX_set_dh_pad(ctx.get(), 1) <= 0) return std::nullopt;
    }
    if (EVP_PKEY_derive_set_peer(ctx.get(), pk.get()) <= 0) return std::nullopt;
    size_t len = 0;
    if (EVP_PKEY_derive(ctx.get(), nullptr, &len) <= 0) return std::nullopt;
    crypto::SecretBytes out(len);
    if (EVP_PKEY_derive(ctx.get(), out.mutable_bytes().data(), &len) <= 0 || len != gi.coord_len)
        return std::nullopt;
    return out;
}

}  // namespace espgw::ike

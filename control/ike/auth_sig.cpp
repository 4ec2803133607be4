// AUTH signatures: RFC 7427 §3 (method 14: 1-byte length, AlgorithmIdentifier,
// signature), RFC 7296 §3.8 method 1 (RSA PKCS#1 v1.5 SHA-1), RFC 4754 §7
// methods 9/10/11 (ECDSA P-256/384/521 with SHA-256/384/512, signature r||s).
#include "control/ike/auth_sig.hpp"

#include "control/ike/crypto_prf.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

namespace espgw::ike {

namespace {

bool digest_sign(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> data, Bytes& sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, md, nullptr, key) == 1 &&
              EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size()) == 1;
    if (ok) {
        sig.resize(len);
        ok = EVP_DigestSign(ctx, sig.data(), &len, data.data(), data.size()) == 1;
        sig.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    return ok;
}

bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::span<const uint8_t> data, std::span<const uint8_t> sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx, sig.data(), sig.size(), data.data(), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

}  // namespace

Bytes signed_octets(uint16_t prf_id, std::span<const uint8_t> message, std::span<const uint8_t> nonce,
                    std::span<const uint8_t> sk_p, std::span<const uint8_t> id_body) {
    const Prf prf(prf_id);
    Bytes out(message.begin(), message.end());
    out.insert(out.end(), nonce.begin(), nonce.end());
    const Bytes maced = prf.compute(sk_p, id_body);
    out.insert(out.end(), maced.begin(), maced.end());
    return out;
}

AuthPayload sign_auth(EVP_PKEY* key, std::span<const uint8_t> octets) {
    AuthPayload out{AuthMethod::DIGITAL_SIGNATURE, {}};
    int sig_nid = NID_sha256WithRSAEncryption;
    const EVP_MD* md = EVP_sha256();
    const bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
    if (!rsa) {
        const int bits = EVP_PKEY_get_bits(key);
        if (bits > 384) {
            sig_nid = NID_ecdsa_with_SHA512;
            md = EVP_sha512();
        } else if (bits > 256) {
            sig_nid = NID_ecdsa_with_SHA384;
            md = EVP_sha384();
        } else {
            sig_nid = NID_ecdsa_with_SHA256;
        }
    }
    // RFC 7427 §3 / Appendix A: RSA AlgorithmIdentifiers carry NULL parameters, ECDSA none.
    X509_ALGOR* alg = X509_ALGOR_new();
    X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid), rsa ? V_ASN1_NULL : V_ASN1_UNDEF, nullptr);
    unsigned char* der = nullptr;
    const int n = i2d_X509_ALGOR(alg, &der);
    X509_ALGOR_free(alg);
    Bytes sig;
    if (n <= 0 || n > 255 || !digest_sign(key, md, octets, sig)) {
        OPENSSL_free(der);
        return out;
    }
    out.data.push_back(static_cast<uint8_t>(n));
    out.data.insert(out.data.end(), der, der + n);
    OPENSSL_free(der);
    out.data.insert(out.data.end(), sig.begin(), sig.end());
    return out;
}

bool verify_auth(EVP_PKEY* pub, const AuthPayload& auth, std::span<const uint8_t> octets, std::string& why) {
    const int type = EVP_PKEY_get_base_id(pub);
    const auto m = static_cast<uint8_t>(auth.method);
    if (auth.method == AuthMethod::DIGITAL_SIGNATURE) {
        if (auth.data.empty() || auth.data[0] + 1u > auth.data.size()) {
            why = "truncated RFC 7427 AlgorithmIdentifier";
            return false;
        }
        const unsigned char* p = auth.data.data() + 1;
        X509_ALGOR* alg = d2i_X509_ALGOR(nullptr, &p, auth.data[0]);
        if (!alg) {
            why = "malformed RFC 7427 AlgorithmIdentifier";
            return false;
        }
        const ASN1_OBJECT* obj = nullptr;
        X509_ALGOR_get0(&obj, nullptr, nullptr, alg);
        const int nid = OBJ_obj2nid(obj);
        X509_ALGOR_free(alg);
        int md_nid = 0, pk_nid = 0;
        if (!OBJ_find_sigid_algs(nid, &md_nid, &pk_nid) || md_nid == NID_undef) {
            why = "unsupported signature algorithm " + std::to_string(nid) + " (RSASSA-PSS is not supported)";
            return false;
        }
        const bool pk_ok = (pk_nid == NID_rsaEncryption && type == EVP_PKEY_RSA) ||
                           (pk_nid == NID_X9_62_id_ecPublicKey && type == EVP_PKEY_EC);
        if (!pk_ok) {
            why = "signature algorithm does not fit the certificate key";
            return false;
        }
        const std::span<const uint8_t> sig(auth.data.data() + 1 + auth.data[0], auth.data.size() - 1 - auth.data[0]);
        if (!digest_verify(pub, EVP_get_digestbynid(md_nid), octets, sig)) {
            why = "bad signature";
            return false;
        }
        return true;
    }
    if (auth.method == AuthMethod::RSA_SIG) {
        if (type != EVP_PKEY_RSA || !digest_verify(pub, EVP_sha1(), octets, auth.data)) {
            why = "bad signature (RSA, method 1)";
            return false;
        }
        return true;
    }
    if (m >= 9 && m <= 11) {
        const EVP_MD* md = m == 9 ? EVP_sha256() : m == 10 ? EVP_sha384() : EVP_sha512();
        const size_t half = auth.data.size() / 2;
        if (type != EVP_PKEY_EC || half == 0 || auth.data.size() % 2 != 0) {
            why = "malformed ECDSA signature";
            return false;
        }
        ECDSA_SIG* es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(auth.data.data(), static_cast<int>(half), nullptr),
                       BN_bin2bn(auth.data.data() + half, static_cast<int>(half), nullptr));
        unsigned char* der = nullptr;
        const int n = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        const bool ok = n > 0 && digest_verify(pub, md, octets, std::span<const uint8_t>(der, static_cast<size_t>(n)));
        OPENSSL_free(der);
        if (!ok) why = "bad signature (ECDSA, method " + std::to_string(m) + ")";
        return ok;
    }
    why = "unsupported AUTH method " + std::to_string(m);
    return false;
}

}  // namespace espgw::ike

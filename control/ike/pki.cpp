// X.509 credentials, trust store, chain/CRL verification and identity matching
// (RFC 7296 §3.6/§3.7, RFC 4945 §3.1 identity-to-certificate binding, RFC 5280).
#include "control/ike/pki.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace espgw::ike {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& why) {
    throw std::invalid_argument(what + ": " + why);
}

std::vector<X509Ptr> read_pem_certs(const std::string& file) {
    std::vector<X509Ptr> out;
    BIO* bio = BIO_new_file(file.c_str(), "r");
    if (!bio) fail(file, "cannot open");
    while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(c, X509_free);
    BIO_free(bio);
    if (out.empty()) fail(file, "no PEM certificate");
    return out;
}

std::vector<std::string> expand(const std::vector<std::string>& paths) {
    std::vector<std::string> files;
    for (const auto& p : paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            for (const auto& e : std::filesystem::directory_iterator(p, ec))
                if (e.is_regular_file()) files.push_back(e.path().string());
        } else {
            files.push_back(p);
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::string asn1_text(const ASN1_STRING* s) {
    unsigned char* utf8 = nullptr;
    const int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

int verify_cb_strict(int ok, X509_STORE_CTX*) { return ok; }
int verify_cb_lenient(int ok, X509_STORE_CTX* ctx) {
    // Without crl_strict an issuer with no (current) CRL is accepted (RFC 5280 §6.3 is a local policy choice).
    const int err = X509_STORE_CTX_get_error(ctx);
    if (!ok && (err == X509_V_ERR_UNABLE_TO_GET_CRL || err == X509_V_ERR_CRL_HAS_EXPIRED)) return 1;
    return ok;
}

Bytes spki_sha1(X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    Bytes h(SHA_DIGEST_LENGTH);
    if (n > 0) SHA1(der, static_cast<size_t>(n), h.data());
    OPENSSL_free(der);
    return h;
}

}  // namespace

X509Ptr x509_from_der(std::span<const uint8_t> der) {
    const unsigned char* p = der.data();
    X509* c = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (!c) return {};
    return X509Ptr(c, X509_free);
}

Bytes x509_to_der(X509* cert) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(cert, &der);
    if (n <= 0) return {};
    Bytes out(der, der + n);
    OPENSSL_free(der);
    return out;
}

std::shared_ptr<const LocalCredential> LocalCredential::load(const std::string& cert_pem, const std::string& key_pem) {
    auto cred = std::make_shared<LocalCredential>();
    cred->cert = read_pem_certs(cert_pem).front();
    BIO* bio = BIO_new_file(key_pem.c_str(), "r");
    if (!bio) fail(key_pem, "cannot open");
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!k) fail(key_pem, "no PEM private key");
    cred->key = PkeyPtr(k, EVP_PKEY_free);
    if (X509_check_private_key(cred->cert.get(), k) != 1) fail(key_pem, "key does not belong to " + cert_pem);
    const int t = EVP_PKEY_get_base_id(k);
    if (t != EVP_PKEY_RSA && t != EVP_PKEY_EC) fail(key_pem, "only RSA and ECDSA keys are supported");
    return cred;
}

std::string_view to_string(CertRefusal r) noexcept {
    switch (r) {
    case CertRefusal::NONE: return "accepted";
    case CertRefusal::UNTRUSTED_CA: return "untrusted CA";
    case CertRefusal::REVOKED: return "revoked";
    case CertRefusal::EXPIRED: return "expired";
    case CertRefusal::NO_CRL: return "no current CRL (crl_strict)";
    case CertRefusal::IDENTITY_MISMATCH: return "identity mismatch";
    case CertRefusal::BAD_SIGNATURE: return "bad signature";
    case CertRefusal::MALFORMED: return "malformed certificate";
    }
    return "?";
}

std::shared_ptr<const TrustStore> TrustStore::load(const std::vector<std::string>& cacerts,
                                                   const std::vector<std::string>& crls, bool crl_strict) {
    std::shared_ptr<TrustStore> ts(new TrustStore());
    ts->store_ = X509_STORE_new();
    ts->crl_strict_ = crl_strict;
    for (const auto& f : expand(cacerts)) {
        for (auto& c : read_pem_certs(f)) {
            X509_STORE_add_cert(ts->store_, c.get());
            ts->cas_.push_back(std::move(c));
        }
    }
    size_t ncrl = 0;
    for (const auto& f : expand(crls)) {
        BIO* bio = BIO_new_file(f.c_str(), "rb");
        if (!bio) fail(f, "cannot open");
        size_t here = 0;
        while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
            X509_STORE_add_crl(ts->store_, crl);
            X509_CRL_free(crl);
            ++here;
        }
        if (here == 0) {  // DER
            (void)BIO_reset(bio);
            if (X509_CRL* crl = d2i_X509_CRL_bio(bio, nullptr)) {
                X509_STORE_add_crl(ts->store_, crl);
                X509_CRL_free(crl);
                ++here;
            }
        }
        BIO_free(bio);
        if (here == 0) fail(f, "no CRL (PEM or DER)");
        ncrl += here;
    }
    if (ncrl > 0 || crl_strict) X509_STORE_set_flags(ts->store_, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return ts;
}

TrustStore::~TrustStore() { X509_STORE_free(store_); }

CertRefusal TrustStore::verify(X509* leaf, const std::vector<X509Ptr>& intermediates, std::string& detail) const {
    STACK_OF(X509)* chain = sk_X509_new_null();
    for (const auto& c : intermediates) sk_X509_push(chain, c.get());
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    CertRefusal r = CertRefusal::NONE;
    if (!ctx || X509_STORE_CTX_init(ctx, store_, leaf, chain) != 1) {
        r = CertRefusal::MALFORMED;
        detail = "verification context";
    } else {
        X509_STORE_CTX_set_verify_cb(ctx, crl_strict_ ? verify_cb_strict : verify_cb_lenient);
        if (X509_verify_cert(ctx) != 1) {
            const int err = X509_STORE_CTX_get_error(ctx);
            detail = X509_verify_cert_error_string(err);
            switch (err) {
            case X509_V_ERR_CERT_REVOKED: r = CertRefusal::REVOKED; break;
            case X509_V_ERR_CERT_HAS_EXPIRED:
            case X509_V_ERR_CERT_NOT_YET_VALID: r = CertRefusal::EXPIRED; break;
            case X509_V_ERR_UNABLE_TO_GET_CRL:
            case X509_V_ERR_CRL_HAS_EXPIRED:
            case X509_V_ERR_CRL_NOT_YET_VALID: r = CertRefusal::NO_CRL; break;
            case X509_V_ERR_CERT_SIGNATURE_FAILURE:
            case X509_V_ERR_CRL_SIGNATURE_FAILURE: r = CertRefusal::BAD_SIGNATURE; break;
            default: r = CertRefusal::UNTRUSTED_CA; break;
            }
        }
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    return r;
}

Bytes TrustStore::certreq_hashes() const {
    Bytes out;
    for (const auto& c : cas_) {
        const Bytes h = spki_sha1(c.get());
        out.insert(out.end(), h.begin(), h.end());
    }
    return out;
}

bool TrustStore::any_ca_listed(std::span<const uint8_t> hashes) const {
    if (hashes.empty()) return true;
    for (const auto& c : cas_) {
        const Bytes h = spki_sha1(c.get());
        for (size_t off = 0; off + h.size() <= hashes.size(); off += h.size())
            if (std::memcmp(hashes.data() + off, h.data(), h.size()) == 0) return true;
    }
    return false;
}

bool cert_matches_identity(X509* cert, const Identity& peer) {
    if (peer.type == IdType::DER_ASN1_DN) {
        const unsigned char* p = peer.data.data();
        X509_NAME* n = d2i_X509_NAME(nullptr, &p, static_cast<long>(peer.data.size()));
        if (!n) return false;
        const bool eq = X509_NAME_cmp(n, X509_get_subject_name(cert)) == 0;
        X509_NAME_free(n);
        return eq;
    }
    const std::string text(peer.data.begin(), peer.data.end());
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    bool match = false;
    for (int i = 0; sans && !match && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS && peer.type == IdType::FQDN) match = iequal(asn1_text(g->d.dNSName), text);
        if (g->type == GEN_EMAIL && peer.type == IdType::RFC822_ADDR) match = iequal(asn1_text(g->d.rfc822Name), text);
        if (g->type == GEN_IPADD && (peer.type == IdType::IPV4_ADDR || peer.type == IdType::IPV6_ADDR)) {
            const ASN1_OCTET_STRING* ip = g->d.iPAddress;
            match = static_cast<size_t>(ASN1_STRING_length(ip)) == peer.data.size() &&
                    std::memcmp(ASN1_STRING_get0_data(ip), peer.data.data(), peer.data.size()) == 0;
        }
    }
    GENERAL_NAMES_free(sans);
    return match;
}

std::string dn_to_string(X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

bool looks_like_dn(std::string_view text) noexcept {
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    const std::string_view key = text.substr(0, eq);
    return std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == ' '; });
}

Bytes dn_from_string(std::string_view text) {
    X509_NAME* n = X509_NAME_new();
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find(',', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string part(text.substr(pos, end - pos));
        pos = end + 1;
        const auto trim = [](std::string s) {
            const auto b = s.find_first_not_of(' ');
            const auto e = s.find_last_not_of(' ');
            return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
        };
        const size_t eq = part.find('=');
        if (eq == std::string::npos) {
            X509_NAME_free(n);
            throw std::invalid_argument("DN part '" + part + "' has no '='");
        }
        const std::string key = trim(part.substr(0, eq));
        const std::string val = trim(part.substr(eq + 1));
        if (X509_NAME_add_entry_by_txt(n, key.c_str(), MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(val.c_str()),
                                       -1, -1, 0) != 1) {
            X509_NAME_free(n);
            throw std::invalid_argument("DN attribute '" + key + "' unknown");
        }
    }
    unsigned char* der = nullptr;
    const int len = i2d_X509_NAME(n, &der);
    X509_NAME_free(n);
    if (len <= 0) throw std::invalid_argument("DN does not encode");
    Bytes out(der, der + len);
    OPENSSL_free(der);
    return out;
}

bool dn_mask_matches(std::span<const uint8_t> mask_der, std::span<const uint8_t> dn_der) {
    const unsigned char* p = mask_der.data();
    X509_NAME* mask = d2i_X509_NAME(nullptr, &p, static_cast<long>(mask_der.size()));
    p = dn_der.data();
    X509_NAME* dn = d2i_X509_NAME(nullptr, &p, static_cast<long>(dn_der.size()));
    bool ok = mask && dn && X509_NAME_entry_count(mask) == X509_NAME_entry_count(dn);
    for (int i = 0; ok && i < X509_NAME_entry_count(mask); ++i) {
        const X509_NAME_ENTRY* m = X509_NAME_get_entry(mask, i);
        const X509_NAME_ENTRY* d = X509_NAME_get_entry(dn, i);
        if (OBJ_cmp(X509_NAME_ENTRY_get_object(m), X509_NAME_ENTRY_get_object(d)) != 0) {
            ok = false;
            break;
        }
        const std::string mv = asn1_text(X509_NAME_ENTRY_get_data(m));
        const std::string dv = asn1_text(X509_NAME_ENTRY_get_data(d));
        if (mv == "*") continue;
        if (!mv.empty() && mv.back() == '*')
            ok = dv.size() >= mv.size() - 1 && iequal(std::string_view(dv).substr(0, mv.size() - 1),
                                                       std::string_view(mv).substr(0, mv.size() - 1));
        else
            ok = iequal(mv, dv);
    }
    X509_NAME_free(mask);
    X509_NAME_free(dn);
    return ok;
}

}  // namespace espgw::ike

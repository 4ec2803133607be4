#pragma once
// X.509 credentials for IKE_AUTH with certificates (RFC 7296 §3.6, §3.7, RFC 4945):
// the gateway's own certificate and key, the trusted CA store with CRLs, chain
// verification, identity-to-certificate matching and DN masks with wildcards.
// All objects are built once at configuration load (control thread) and are
// read-only afterwards; loading throws std::invalid_argument naming the file.

#include "control/ike/identity.hpp"

#include <memory>
#include <string>
#include <vector>

typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct x509_store_st X509_STORE;
typedef struct X509_name_st X509_NAME;

namespace espgw::ike {

/// Owning handle of an X509 (X509_free).
using X509Ptr = std::shared_ptr<X509>;
/// Owning handle of an EVP_PKEY (EVP_PKEY_free).
using PkeyPtr = std::shared_ptr<EVP_PKEY>;

/// Parses a DER certificate (CERT payload encoding 4, §3.6). nullptr when malformed.
X509Ptr x509_from_der(std::span<const uint8_t> der);
/// DER encoding of `cert`.
Bytes x509_to_der(X509* cert);

/// Our certificate and private key (RSA or ECDSA), from PEM files.
struct LocalCredential {
    X509Ptr cert;
    PkeyPtr key;
    /// Loads both files and checks that the key belongs to the certificate. Throws
    /// std::invalid_argument("<file>: ...") on any problem.
    static std::shared_ptr<const LocalCredential> load(const std::string& cert_pem, const std::string& key_pem);
};

/// Why a peer certificate was refused; NONE when accepted.
enum class CertRefusal { NONE, UNTRUSTED_CA, REVOKED, EXPIRED, NO_CRL, IDENTITY_MISMATCH, BAD_SIGNATURE, MALFORMED };
std::string_view to_string(CertRefusal r) noexcept;

/// Trusted CA certificates and CRLs ([pki] cacerts, crls, crl_strict).
class TrustStore {
public:
    /// Loads PEM CA certificates from the files/directories in `cacerts` and CRLs
    /// (PEM or DER) from `crls`. Throws std::invalid_argument on unreadable input.
    static std::shared_ptr<const TrustStore> load(const std::vector<std::string>& cacerts,
                                                  const std::vector<std::string>& crls, bool crl_strict);
    ~TrustStore();
    TrustStore(const TrustStore&) = delete;
    TrustStore& operator=(const TrustStore&) = delete;

    /// Verifies `leaf` up to a trusted CA (X509_verify_cert) with `intermediates`
    /// and the CRLs: a revoked certificate is REVOKED, a CA without a current CRL is
    /// NO_CRL in strict mode (accepted otherwise). `detail` gets OpenSSL's message.
    CertRefusal verify(X509* leaf, const std::vector<X509Ptr>& intermediates, std::string& detail) const;
    /// CERTREQ body (§3.7): concatenated SHA-1 hashes of the CA SubjectPublicKeyInfo.
    Bytes certreq_hashes() const;
    /// True when a CA with one of these SHA-1 key hashes is ours (or `hashes` is empty).
    bool any_ca_listed(std::span<const uint8_t> hashes) const;
    size_t ca_count() const noexcept { return cas_.size(); }

private:
    TrustStore() = default;
    X509_STORE* store_ = nullptr;
    std::vector<X509Ptr> cas_;
    bool crl_strict_ = false;
};

/// True when `peer` (IDi) names the certificate's subject: FQDN / RFC 822 / IPv4 /
/// IPv6 against subjectAltName dNSName / rfc822Name / iPAddress (and the subject CN
/// or emailAddress when there is no SAN of that kind), DER_ASN1_DN against the
/// subject DN (canonical comparison).
bool cert_matches_identity(X509* cert, const Identity& peer);

/// One-line text of a DN ("C=DE, O=Example, CN=host") in RFC 2253 order reversed
/// as strongSwan prints it (most significant first).
std::string dn_to_string(X509_NAME* name);
/// Parses "C=DE, O=Example, CN=*" style text into a DER DN (identity DER_ASN1_DN);
/// throws std::invalid_argument when it is not a DN.
Bytes dn_from_string(std::string_view text);
/// DN mask matching ("CA DN match"): every RDN of the mask must appear in the same
/// order with the same attribute type; a value "*" matches any value, "x*" a prefix.
/// Both sides are DER DNs. Never throws.
bool dn_mask_matches(std::span<const uint8_t> mask_der, std::span<const uint8_t> dn_der);
/// True when `text` looks like a DN ("C=..", "CN=..", contains '=' before ',').
bool looks_like_dn(std::string_view text) noexcept;

}  // namespace espgw::ike

// libFuzzer target: certificates, CRLs, DNs and signature AUTH payloads as espgw-ike
// handles them (issue 7: "certificates and CRLs as the control process handles
// them"). A CA (P-256, self-signed) is made once at start-up, with a store that trusts
// it. Byte 0 picks the mode:
//   0: the input is a peer certificate (CERT payload body after the encoding byte):
//      parse, print its subject, verify against the store, match identities of each
//      type, check a signature AUTH with its key over fixed octets;
//   1: the input is a CRL file (PEM or DER) loaded beside the CA (strict and not);
//   2: the input is a DN mask text and a DER DN (split at the first 0): parse the mask
//      and match it;
//   3: the input is an AUTH payload body (method byte, then data) verified with the
//      CA's key (RFC 7427 AlgorithmIdentifier parsing, ECDSA/RSA signature decoding).
// Anything may be refused; nothing may crash, leak or trip UBSan.

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "control/ike/auth_sig.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/log.hpp"
#include "control/ike/pki.hpp"

namespace {

using namespace espgw::ike;

struct Fixture {
    std::string dir;
    std::string ca_path;
    EVP_PKEY* key = nullptr;
    std::shared_ptr<const TrustStore> store;

    Fixture() {
        char tmpl[] = "/tmp/fuzz_cert_XXXXXX";
        dir = mkdtemp(tmpl);
        ca_path = dir + "/ca.pem";
        key = EVP_EC_gen("P-256");
        X509* ca = X509_new();
        X509_set_version(ca, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
        X509_gmtime_adj(X509_getm_notBefore(ca), -3600);
        X509_gmtime_adj(X509_getm_notAfter(ca), 3600L * 24 * 365);
        X509_NAME* n = X509_get_subject_name(ca);
        X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("DE"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Fuzz"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Fuzz CA"), -1, -1, 0);
        X509_set_issuer_name(ca, n);
        X509_set_pubkey(ca, key);
        X509_sign(ca, key, EVP_sha256());
        FILE* f = std::fopen(ca_path.c_str(), "w");
        PEM_write_X509(f, ca);
        std::fclose(f);
        X509_free(ca);
        store = TrustStore::load({ca_path}, {}, false);
    }
};

Fixture& fx() {
    static Fixture f;
    return f;
}

const Bytes kOctets = {'s', 'i', 'g', 'n', 'e', 'd', ' ', 'o', 'c', 't', 'e', 't', 's'};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    espgw::ike::log_set_enabled(false);
    fx();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t mode = data[0] % 4;
    std::span<const uint8_t> in(data + 1, size - 1);
    Fixture& f = fx();
    switch (mode) {
        case 0: {
            X509Ptr cert = x509_from_der(in);
            if (!cert) break;
            (void)dn_to_string(X509_get_subject_name(cert.get()));
            std::string detail;
            (void)f.store->verify(cert.get(), {}, detail);
            for (const char* id : {"host.example.com", "user@example.com", "192.0.2.1", "2001:db8::1",
                                   "C=DE, O=Fuzz, CN=host"}) {
                try {
                    (void)cert_matches_identity(cert.get(), Identity::parse(id));
                } catch (const std::exception&) {
                }
            }
            if (EVP_PKEY* pub = X509_get0_pubkey(cert.get())) {
                AuthPayload a;
                a.method = AuthMethod::DIGITAL_SIGNATURE;
                a.data.assign(in.begin(), in.begin() + static_cast<ptrdiff_t>(std::min<size_t>(in.size(), 80)));
                std::string why;
                (void)verify_auth(pub, a, kOctets, why);
            }
            (void)x509_to_der(cert.get());
            break;
        }
        case 1: {
            const std::string crl = f.dir + "/crl.pem";
            FILE* out = std::fopen(crl.c_str(), "w");
            if (!out) break;
            std::fwrite(in.data(), 1, in.size(), out);
            std::fclose(out);
            for (bool strict : {false, true}) {
                try {
                    auto s = TrustStore::load({f.ca_path}, {crl}, strict);
                    (void)s->certreq_hashes();
                } catch (const std::exception&) {
                }
            }
            break;
        }
        case 2: {
            size_t cut = 0;
            while (cut < in.size() && in[cut] != 0) ++cut;
            const std::string text(reinterpret_cast<const char*>(in.data()), cut);
            const auto der = in.subspan(cut < in.size() ? cut + 1 : cut);
            (void)looks_like_dn(text);
            try {
                const Bytes mask = dn_from_string(text);
                (void)dn_mask_matches(mask, der);
                (void)dn_mask_matches(der, mask);
            } catch (const std::exception&) {
            }
            break;
        }
        case 3: {
            if (in.empty()) break;
            AuthPayload a;
            a.method = static_cast<AuthMethod>(in[0]);
            a.data.assign(in.begin() + 1, in.end());
            std::string why;
            (void)verify_auth(f.key, a, kOctets, why);
            break;
        }
    }
    return 0;
}

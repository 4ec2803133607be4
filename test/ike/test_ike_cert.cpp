// Certificate authentication building blocks: RFC 7427 AUTH signatures, DN masks,
// identity-to-certificate matching, chain verification with CRLs. Test PKI made at
// test time with strongSwan's `pki` tool in a temporary directory.
#include "control/ike/auth_sig.hpp"
#include "control/ike/config.hpp"
#include "control/ike/pki.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <string>

using namespace espgw::ike;

namespace {

struct TestPki {
    std::string dir;
    TestPki() {
        dir = (std::filesystem::temp_directory_path() / ("eikc_pki_" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(dir);
        const std::string q = " 2>/dev/null";
        const auto run = [&](const std::string& cmd) {
            REQUIRE(std::system(("cd " + dir + " && " + cmd + q).c_str()) == 0);
        };
        run("pki --gen --type ecdsa --size 256 --outform pem > ca.key");
        run("pki --self --ca --in ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem > ca.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > evil.key");
        run("pki --self --ca --in evil.key --type ecdsa --dn 'C=DE, O=Evil, CN=Evil CA' --outform pem > evil.pem");
        run("pki --gen --type ecdsa --size 256 --outform pem > ec.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in ec.key --dn 'C=DE, O=Example, CN=ec.example.com'"
            " --san ec.example.com --san user@example.com --san 192.0.2.7 --outform pem > ec.pem");
        run("pki --gen --type rsa --size 2048 --outform pem > rsa.key");
        run("pki --issue --cacert ca.pem --cakey ca.key --type priv --in rsa.key --dn 'C=DE, O=Example, CN=rsa.example.com'"
            " --san rsa.example.com --outform pem > rsa.pem");
        run("pki --issue --cacert evil.pem --cakey evil.key --type priv --in ec.key --dn 'C=DE, O=Example, CN=ec.example.com'"
            " --san ec.example.com --outform pem > ec_evil.pem");
        run("pki --signcrl --cacert ca.pem --cakey ca.key --cert rsa.pem --reason key-compromise --outform pem > crl.pem");
        run("pki --signcrl --cacert ca.pem --cakey ca.key --outform der > empty.crl");
    }
    ~TestPki() { std::filesystem::remove_all(dir); }
    std::string f(const std::string& n) const { return dir + "/" + n; }
};

const TestPki& test_pki() {
    static TestPki p;
    return p;
}

Bytes subject_der(X509* c) {
    unsigned char* d = nullptr;
    const int n = i2d_X509_NAME(X509_get_subject_name(c), &d);
    Bytes out(d, d + n);
    OPENSSL_free(d);
    return out;
}

Identity id(IdType t, std::string_view s) { return Identity{t, Bytes(s.begin(), s.end()), false}; }

}  // namespace

TEST_CASE("RFC 7427 AUTH signatures made with ECDSA and RSA keys verify and detect tampering", "[ike][cert]") {
    const auto& p = test_pki();
    for (const char* name : {"ec", "rsa"}) {
        const auto cred = LocalCredential::load(p.f(std::string(name) + ".pem"), p.f(std::string(name) + ".key"));
        const Bytes octets = signed_octets(5 /* PRF_HMAC_SHA2_256 */, Bytes(64, 0x11), Bytes(32, 0x22),
                                           Bytes(32, 0x33), Bytes{2, 0, 0, 0, 'a'});
        const AuthPayload a = sign_auth(cred->key.get(), octets);
        REQUIRE(a.method == AuthMethod::DIGITAL_SIGNATURE);
        REQUIRE(a.data.size() > 1u + a.data[0]);
        std::string why;
        EVP_PKEY* pub = X509_get0_pubkey(cred->cert.get());
        CHECK(verify_auth(pub, a, octets, why));
        Bytes bad = octets;
        bad[0] ^= 1;
        CHECK_FALSE(verify_auth(pub, a, bad, why));
        CHECK(why == "bad signature");
    }
}

TEST_CASE("classic ECDSA AUTH (method 9, r||s) from a peer verifies", "[ike][cert]") {
    const auto& p = test_pki();
    const auto cred = LocalCredential::load(p.f("ec.pem"), p.f("ec.key"));
    const Bytes octets(100, 0x5a);
    const AuthPayload ds = sign_auth(cred->key.get(), octets);
    const unsigned char* q = ds.data.data() + 1 + ds.data[0];
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &q, static_cast<long>(ds.data.size() - 1 - ds.data[0]));
    REQUIRE(es);
    Bytes rs(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), rs.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), rs.data() + 32, 32);
    ECDSA_SIG_free(es);
    std::string why;
    CHECK(verify_auth(X509_get0_pubkey(cred->cert.get()), AuthPayload{static_cast<AuthMethod>(9), rs}, octets, why));
    rs[40] ^= 0x80;
    CHECK_FALSE(verify_auth(X509_get0_pubkey(cred->cert.get()), AuthPayload{static_cast<AuthMethod>(9), rs}, octets, why));
}

TEST_CASE("DN masks with wildcards match like CA DN match", "[ike][cert]") {
    const Bytes dn = dn_from_string("C=DE, O=Example, CN=host1.example.com");
    CHECK(dn_mask_matches(dn_from_string("C=DE, O=Example, CN=*"), dn));
    CHECK(dn_mask_matches(dn_from_string("C=DE, O=example, CN=host*"), dn));
    CHECK(dn_mask_matches(dn_from_string("C=DE,O=Example,CN=host1.example.com"), dn));
    CHECK_FALSE(dn_mask_matches(dn_from_string("C=DE, O=Other, CN=*"), dn));
    CHECK_FALSE(dn_mask_matches(dn_from_string("C=DE, O=Example"), dn));
    CHECK_FALSE(dn_mask_matches(dn_from_string("C=DE, OU=Example, CN=*"), dn));
    CHECK(looks_like_dn("C=DE, CN=*"));
    CHECK_FALSE(looks_like_dn("gw.example.com"));
    CHECK_THROWS_AS(dn_from_string("C=DE, nonsense"), std::invalid_argument);
}

TEST_CASE("peer identities must be named by the certificate's subjectAltName or subject DN", "[ike][cert]") {
    const auto& p = test_pki();
    const auto cred = LocalCredential::load(p.f("ec.pem"), p.f("ec.key"));
    X509* c = cred->cert.get();
    CHECK(cert_matches_identity(c, id(IdType::FQDN, "ec.example.com")));
    CHECK(cert_matches_identity(c, id(IdType::FQDN, "EC.example.COM")));
    CHECK(cert_matches_identity(c, id(IdType::RFC822_ADDR, "user@example.com")));
    CHECK(cert_matches_identity(c, Identity{IdType::IPV4_ADDR, Bytes{192, 0, 2, 7}, false}));
    CHECK(cert_matches_identity(c, Identity{IdType::DER_ASN1_DN, subject_der(c), false}));
    CHECK_FALSE(cert_matches_identity(c, id(IdType::FQDN, "rsa.example.com")));
    CHECK_FALSE(cert_matches_identity(c, Identity{IdType::IPV4_ADDR, Bytes{192, 0, 2, 8}, false}));
    CHECK_FALSE(cert_matches_identity(c, Identity{IdType::DER_ASN1_DN, dn_from_string("C=DE, O=Example, CN=x"), false}));
}

TEST_CASE("chain verification accepts our CA's certificates and refuses untrusted CAs", "[ike][cert]") {
    const auto& p = test_pki();
    const auto trust = TrustStore::load({p.f("ca.pem")}, {}, false);
    std::string detail;
    const auto ec = LocalCredential::load(p.f("ec.pem"), p.f("ec.key"));
    CHECK(trust->verify(ec->cert.get(), {}, detail) == CertRefusal::NONE);
    const auto evil = LocalCredential::load(p.f("ec_evil.pem"), p.f("ec.key"));
    CHECK(trust->verify(evil->cert.get(), {}, detail) == CertRefusal::UNTRUSTED_CA);
    // §3.7: CERTREQ carries one SHA-1 per CA.
    CHECK(trust->certreq_hashes().size() == 20);
    CHECK(trust->any_ca_listed(trust->certreq_hashes()));
    CHECK_FALSE(trust->any_ca_listed(Bytes(20, 0)));
}

TEST_CASE("a CRL revokes a certificate; crl_strict refuses an issuer without a CRL", "[ike][cert]") {
    const auto& p = test_pki();
    const auto rsa = LocalCredential::load(p.f("rsa.pem"), p.f("rsa.key"));
    const auto ec = LocalCredential::load(p.f("ec.pem"), p.f("ec.key"));
    std::string detail;
    const auto with_crl = TrustStore::load({p.f("ca.pem")}, {p.f("crl.pem")}, true);
    CHECK(with_crl->verify(rsa->cert.get(), {}, detail) == CertRefusal::REVOKED);
    CHECK(with_crl->verify(ec->cert.get(), {}, detail) == CertRefusal::NONE);
    const auto der_crl = TrustStore::load({p.f("ca.pem")}, {p.f("empty.crl")}, true);
    CHECK(der_crl->verify(rsa->cert.get(), {}, detail) == CertRefusal::NONE);
    const auto strict_none = TrustStore::load({p.f("ca.pem")}, {}, true);
    CHECK(strict_none->verify(ec->cert.get(), {}, detail) == CertRefusal::NO_CRL);
    const auto lenient_none = TrustStore::load({p.f("ca.pem")}, {}, false);
    CHECK(lenient_none->verify(ec->cert.get(), {}, detail) == CertRefusal::NONE);
}

TEST_CASE("config: auth = pubkey loads local_cert/local_key and [pki]; remote_id may be a DN mask", "[ike][cert]") {
    const auto& p = test_pki();
    const std::string toml = "[pki]\ncacerts = [\"" + p.f("ca.pem") + "\"]\ncrls = [\"" + p.f("crl.pem") +
                             "\"]\ncrl_strict = true\n[[connections]]\nname = \"rw\"\nlocal_id = \"ec.example.com\"\n"
                             "remote_id = \"C=DE, O=Example, CN=*\"\nauth = \"pubkey\"\nlocal_cert = \"" + p.f("ec.pem") +
                             "\"\nlocal_key = \"" + p.f("ec.key") +
                             "\"\nike_proposals = [\"aes256gcm16-prfsha256-ecp256\"]\nesp_proposals = [\"aes128gcm16\"]\n";
    const IkeConfig cfg = parse_config(toml);
    REQUIRE(cfg.trust);
    CHECK(cfg.crl_strict);
    REQUIRE(cfg.connections.size() == 1);
    const auto& c = cfg.connections[0];
    CHECK(c.auth == "pubkey");
    CHECK_FALSE(c.psk);
    REQUIRE(c.local_cred);
    CHECK(c.remote_id.type == IdType::DER_ASN1_DN);
    CHECK(dn_mask_matches(c.remote_dn_mask, subject_der(c.local_cred->cert.get())));
    // A pubkey connection without a CA store, or with a key that is not the certificate's, is refused.
    std::string no_pki = toml.substr(toml.find("[[connections]]"));
    CHECK_THROWS_AS(parse_config(no_pki), std::invalid_argument);
    std::string wrong_key = toml;
    wrong_key.replace(wrong_key.find(p.f("ec.key")), p.f("ec.key").size(), p.f("rsa.key"));
    CHECK_THROWS_AS(parse_config(wrong_key), std::invalid_argument);
}

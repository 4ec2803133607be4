// libFuzzer target: EAP as espgw-ike reads it from a peer (IKEv2 EAP payload, RFC 7296
// §3.16): parse_eap() on the input, then the input as the peer's answers to the
// EAP-MSCHAPv2, EAP-GTC and EAP-TLS servers of a user database with one user. Byte 0
// selects the server (bit 0 GTC, bit 2 TLS) and whether the EAP identifier is fixed up
// to match our request (bit 1, so the method parsing behind that check is reached); the
// rest is split at 0xff bytes into up to three Responses (eight for EAP-TLS, whose
// fragments, ACKs and TLS records take more rounds). Anything may be refused; nothing
// may crash, leak or trip UBSan.

#include "control/ike/eap_mschapv2.hpp"
#include "control/ike/eap_packet.hpp"
#include "control/ike/eap_tls.hpp"
#include "control/ike/user_db.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace espgw::ike;

namespace {

const UserDb& users() {
    static const UserDb db = [] {
        const std::vector<uint8_t> key(32, 0x42);
        UserDb d = UserDb::parse("", key);
        d.set_pbkdf2_iterations(1);
        User u;
        u.name = "alice";
        d.upsert(u, "clientPass");
        return d;
    }();
    return db;
}

/// A self-signed ECDSA certificate made once: the gateway's TLS credential and the
/// only trusted CA (so a fuzzed client certificate is verified for real).
const EapTlsOptions& tls_options() {
    static const EapTlsOptions o = [] {
        EVP_PKEY* key = EVP_EC_gen("P-256");
        X509* cert = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
        X509_set_pubkey(cert, key);
        X509_NAME* n = X509_get_subject_name(cert);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fuzz gw"), -1, -1, 0);
        X509_set_issuer_name(cert, n);
        X509_sign(cert, key, EVP_sha256());
        auto cred = std::make_shared<LocalCredential>();
        cred->cert = X509Ptr(cert, X509_free);
        cred->key = PkeyPtr(key, EVP_PKEY_free);
        const std::string ca = "/tmp/fuzz_eap_tls_ca_" + std::to_string(::getpid()) + ".pem";
        FILE* f = std::fopen(ca.c_str(), "w");
        PEM_write_X509(f, cert);
        std::fclose(f);
        EapTlsOptions opts;
        opts.cred = cred;
        opts.trust = TrustStore::load({ca}, {}, false);
        std::remove(ca.c_str());
        opts.users = &users();
        opts.fragment_bytes = 200;  // our flights fragment: the ACK path is reached
        opts.max_message_bytes = 8192;
        return opts;
    }();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    EapPacket p;
    (void)parse_eap({data + 1, size - 1}, p);
    const bool gtc = data[0] & 1;
    const bool fix_id = data[0] & 2;
    const bool tls = data[0] & 4;
    auto srv = tls ? make_eap_tls(tls_options()) : gtc ? make_eap_gtc(users()) : make_eap_mschapv2(users());
    EapStep s = srv->start("alice");
    size_t at = 1;
    const int rounds = tls ? 8 : 3;
    for (int round = 0; round < rounds && at <= size && s.kind == EapStep::Kind::CONTINUE; ++round) {
        size_t end = at;
        while (end < size && data[end] != 0xff) ++end;
        std::vector<uint8_t> msg(data + at, data + end);
        EapPacket req;
        if (fix_id && msg.size() >= 2 && parse_eap(s.eap, req) == EapError::OK) msg[1] = req.identifier;
        s = srv->process(msg);
        at = end + 1;
    }
    return 0;
}

#pragma once
// EAP-TLS authenticator (RFC 5216; TLS 1.3 per RFC 9190): the user proves itself with a
// client certificate inside a TLS handshake that runs over the IKE_AUTH EAP rounds.
// OpenSSL does the TLS with memory BIOs; eap_tls_framing.hpp cuts and joins the
// fragments. The conversation (TLS 1.2; 1.3 has one flight less and ends with the
// protected success indication, an application-data octet 0x00, RFC 9190 §2.5):
//
//   <-- Request/TLS  { S }                                   EAP-TLS Start
//   --> Response/TLS { ClientHello }
//   <-- Request/TLS  { L M, ServerHello, Certificate, ServerKeyExchange,
//                      CertificateRequest, ServerHelloDone }  (fragments, each ACKed)
//   --> Response/TLS { Certificate, ClientKeyExchange, CertificateVerify, CCS, Finished }
//   <-- Request/TLS  { CCS, Finished }
//   --> Response/TLS { }                                      ACK
//   <-- EAP-Success   MSK = TLS-PRF(master, "client EAP encryption", cr | sr)[0..63]
//                     (1.3: TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128)[0..63])
//
// The client certificate is verified against the [pki] CA store and CRLs exactly as an
// IKE certificate (TrustStore::verify) and must name the EAP identity (subjectAltName
// e-mail / DNS / address, the DN, or the subject CN). The user name is that identity; a
// user of that name in the local user database must be enabled and lends its groups and
// static IP; a certificate user absent from the database logs in without groups.
// A refused certificate or a failed handshake sends the TLS alert in one more Request,
// and EAP-Failure answers the peer's ACK. Limits: max_message_bytes per TLS message
// (larger is refused, counted in oversize) and max_rounds EAP rounds. Control thread only.

#include "control/ike/eap_server.hpp"
#include "control/ike/pki.hpp"

#include <cstdint>
#include <memory>

namespace espgw::ike {

class UserDb;

struct EapTlsOptions {
    std::shared_ptr<const LocalCredential> cred;  // the gateway's TLS server certificate and key
    std::shared_ptr<const TrustStore> trust;      // CAs and CRLs for client certificates
    const UserDb* users = nullptr;                // optional: groups, static IP, enabled flag
    uint16_t version_max = 0x0304;                // TLS1_3_VERSION or TLS1_2_VERSION (0x0303)
    size_t fragment_bytes = 1024;                 // EAP-TLS Type-Data per Request
    size_t max_message_bytes = 64 * 1024;         // one reassembled TLS message from the peer
    unsigned max_rounds = 64;                     // EAP Responses per conversation
};

/// What EAP-TLS conversations did since start (show ike counters "eap_tls").
struct EapTlsCounters {
    uint64_t started = 0;
    uint64_t succeeded = 0;
    uint64_t tls12 = 0;                // successes on TLS 1.2
    uint64_t tls13 = 0;                // successes on TLS 1.3
    uint64_t cert_refused = 0;         // client certificate untrusted, revoked, expired or not the identity's
    uint64_t oversize = 0;             // TLS message above max_message_bytes
    uint64_t malformed = 0;            // EAP / EAP-TLS framing errors
    uint64_t handshake_failed = 0;     // other TLS failures (no common cipher, bad Finished, alert from the peer)
    uint64_t rounds_exceeded = 0;
    uint64_t fragments_sent = 0;       // Requests carrying part of a fragmented TLS message
    uint64_t fragments_received = 0;   // Responses carrying M (acknowledged by us)
};
/// The process-wide counters. Control thread only.
const EapTlsCounters& eap_tls_counters() noexcept;

/// A new EAP-TLS server for one IKE SA. Throws std::invalid_argument when `opts` lacks
/// the credential or the CA store.
std::unique_ptr<EapServer> make_eap_tls(EapTlsOptions opts);

}  // namespace espgw::ike

// EAP-TLS server (RFC 5216, RFC 9190): OpenSSL's TLS state machine behind memory BIOs,
// driven one EAP round at a time.
#include "control/ike/eap_tls.hpp"

#include "control/ike/eap_mschapv2.hpp"  // random_eap_identifier
#include "control/ike/eap_packet.hpp"
#include "control/ike/eap_tls_framing.hpp"
#include "control/ike/user_db.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace espgw::ike {

namespace {

EapTlsCounters g_counters;

// RFC 5216 §2.3: Key_Material = TLS-PRF-128(master secret, "client EAP encryption",
// client.random || server.random) — RFC 5705's exporter without a context.
constexpr std::string_view kLabel12 = "client EAP encryption";
// RFC 9190 §2.3: Key_Material = TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", Type-Code, 128).
constexpr std::string_view kLabel13 = "EXPORTER_EAP_TLS_Key_Material";
constexpr uint8_t kTypeCode = static_cast<uint8_t>(EapType::TLS);

struct SslCtxFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};

std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    // "error:0A000086:SSL routines::certificate verify failed" -> the reason text only.
    std::string s(buf);
    const size_t colon = s.rfind(':');
    return colon == std::string::npos ? s : s.substr(colon + 1);
}

bool iequal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// RFC 5216 §5.2: the certificate must name the EAP identity (a subjectAltName of the
/// identity's kind, the DN itself, or the subject CN).
bool names_identity(X509* cert, const std::string& id) {
    Identity ident;
    try {
        if (looks_like_dn(id)) {
            ident.type = IdType::DER_ASN1_DN;
            ident.data = dn_from_string(id);
        } else {
            ident = Identity::parse(id);
        }
    } catch (const std::invalid_argument&) {
        return false;
    }
    if (cert_matches_identity(cert, ident)) return true;
    X509_NAME* subject = X509_get_subject_name(cert);
    for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
         i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
        unsigned char* utf8 = nullptr;
        const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
        if (n < 0) continue;
        const bool eq = iequal(std::string_view(reinterpret_cast<char*>(utf8), static_cast<size_t>(n)), id);
        OPENSSL_free(utf8);
        if (eq) return true;
    }
    return false;
}

int verify_error_for(CertRefusal r) {
    switch (r) {
        case CertRefusal::UNTRUSTED_CA: return X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;  // alert unknown_ca
        case CertRefusal::REVOKED: return X509_V_ERR_CERT_REVOKED;                             // certificate_revoked
        case CertRefusal::EXPIRED: return X509_V_ERR_CERT_HAS_EXPIRED;                         // certificate_expired
        default: return X509_V_ERR_CERT_REJECTED;                                              // bad_certificate
    }
}

class EapTls final : public EapServer {
public:
    explicit EapTls(EapTlsOptions o)
        : opts_(std::move(o)), in_(opts_.max_message_bytes), out_(opts_.fragment_bytes) {
        if (!opts_.cred || !opts_.trust) throw std::invalid_argument("EAP-TLS needs local_cert/local_key and [pki] cacerts");
        ctx_.reset(SSL_CTX_new(TLS_server_method()));
        if (!ctx_) throw std::runtime_error("SSL_CTX_new");
        SSL_CTX* c = ctx_.get();
        SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);  // RFC 9190 §5.1 / RFC 8996: nothing older
        SSL_CTX_set_max_proto_version(c, opts_.version_max == TLS1_2_VERSION ? TLS1_2_VERSION : TLS1_3_VERSION);
        // No resumption (every login proves the certificate) and no tickets: the
        // server's last flight stays one Finished (1.2) or the success indication (1.3).
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
        SSL_CTX_set_num_tickets(c, 0);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_use_certificate(c, opts_.cred->cert.get()) != 1 || SSL_CTX_use_PrivateKey(c, opts_.cred->key.get()) != 1)
            throw std::runtime_error("EAP-TLS: the gateway certificate/key does not load into OpenSSL");
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        SSL_CTX_set_cert_verify_callback(c, &EapTls::verify_cb, this);
    }

    EapStep start(const std::string& identity) override {
        ++g_counters.started;
        identity_ = identity;
        id_ = random_eap_identifier();
        ssl_.reset(SSL_new(ctx_.get()));
        BIO* rbio = BIO_new(BIO_s_mem());
        BIO* wbio = BIO_new(BIO_s_mem());
        if (!ssl_ || !rbio || !wbio) throw std::runtime_error("SSL_new/BIO_new");
        SSL_set_bio(ssl_.get(), rbio, wbio);  // the SSL owns both BIOs now
        rbio_ = rbio;
        wbio_ = wbio;
        SSL_set_accept_state(ssl_.get());
        state_ = State::HANDSHAKE;
        // <-- Request/TLS { S }
        return request(Bytes{eaptls::FLAG_START});
    }

    EapStep process(std::span<const uint8_t> eap) override {
        EapPacket p;
        if (const EapError e = parse_eap(eap, p); e != EapError::OK) {
            ++g_counters.malformed;
            return failure(std::string("malformed EAP response: ") + std::string(name(e)));
        }
        if (p.code != EapCode::RESPONSE || p.identifier != id_) {
            ++g_counters.malformed;
            return failure("unexpected EAP packet (not the response to our request)");
        }
        // The alert went out: whatever the peer answers, the conversation ends here.
        if (state_ == State::FAILING) return failure(reason_);
        if (p.type == EapType::NAK) return failure("peer refused EAP-TLS (Nak)");
        if (p.type != EapType::TLS || p.data.empty()) {
            ++g_counters.malformed;
            return failure("unexpected EAP method in response");
        }
        if (++rounds_ > opts_.max_rounds) {
            ++g_counters.rounds_exceeded;
            return failure("EAP-TLS took more than " + std::to_string(opts_.max_rounds) + " rounds");
        }
        const Bytes& d = p.data;
        if (out_.pending()) {
            // §2.1.5: every fragment we sent is acknowledged before the next one.
            if (!eaptls::is_ack(d)) {
                ++g_counters.malformed;
                return failure("expected an EAP-TLS acknowledgement of our fragment");
            }
            return send_next();
        }
        if (state_ == State::FINAL_SENT) {
            // --> Response/TLS { }: the peer accepted our Finished (1.2) or the
            // protected success indication (1.3).
            if (eaptls::is_ack(d)) return success();
            return peer_rejected(d);
        }
        eaptls::FrameError fe{};
        switch (in_.add(d, fe)) {
            case eaptls::Reassembler::Result::ERROR:
                if (fe == eaptls::FrameError::OVERSIZE) ++g_counters.oversize;
                else ++g_counters.malformed;
                return failure(std::string(eaptls::name(fe)) + " (limit " + std::to_string(opts_.max_message_bytes) +
                               " bytes)");
            case eaptls::Reassembler::Result::MORE:
                // <-- Request/TLS { } : send the next fragment.
                ++g_counters.fragments_received;
                return request(Bytes{0});
            case eaptls::Reassembler::Result::DONE: break;
        }
        const Bytes& msg = in_.message();
        if (BIO_write(rbio_, msg.data(), static_cast<int>(msg.size())) != static_cast<int>(msg.size()))
            return failure("TLS input buffer");
        in_.reset();
        return drive();
    }

private:
    enum class State { IDLE, HANDSHAKE, FINAL_SENT, FAILING };

    static int verify_cb(X509_STORE_CTX* x, void* arg) {
        auto* self = static_cast<EapTls*>(arg);
        X509* leaf = X509_STORE_CTX_get0_cert(x);
        if (!leaf) return 0;
        self->subject_ = dn_to_string(X509_get_subject_name(leaf));
        std::vector<X509Ptr> chain;
        if (STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(x)) {
            for (int i = 0; i < sk_X509_num(sent); ++i) {
                X509* c = sk_X509_value(sent, i);
                if (X509_cmp(c, leaf) == 0) continue;
                X509_up_ref(c);
                chain.emplace_back(c, X509_free);
            }
        }
        std::string detail;
        const CertRefusal r = self->opts_.trust->verify(leaf, chain, detail);
        if (r != CertRefusal::NONE) {
            self->refusal_ = "client certificate \"" + self->subject_ + "\" refused: " + std::string(to_string(r)) +
                             (detail.empty() ? "" : ": " + detail);
            X509_STORE_CTX_set_error(x, verify_error_for(r));
            return 0;
        }
        if (!names_identity(leaf, self->identity_)) {
            self->refusal_ = "client certificate \"" + self->subject_ + "\" refused: " +
                             std::string(to_string(CertRefusal::IDENTITY_MISMATCH)) + ": it does not name EAP identity '" +
                             self->identity_ + "'";
            X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
            return 0;
        }
        return 1;
    }

    EapStep request(Bytes type_data) {
        ++id_;
        EapStep s;
        s.kind = EapStep::Kind::CONTINUE;
        s.eap = encode_eap({EapCode::REQUEST, id_, EapType::TLS, std::move(type_data)});
        return s;
    }

    EapStep failure(std::string reason) {
        EapStep s;
        s.kind = EapStep::Kind::FAILURE;
        s.eap = encode_eap({EapCode::FAILURE, id_, EapType::IDENTITY, {}});
        s.reason = std::move(reason);
        state_ = State::IDLE;
        return s;
    }

    EapStep send_next() {
        Bytes frag = out_.next();
        if (frag[0] & eaptls::FLAG_MORE) ++g_counters.fragments_sent;
        return request(std::move(frag));
    }

    Bytes take_output() {
        Bytes out;
        char* data = nullptr;
        const long n = BIO_get_mem_data(wbio_, &data);
        if (n > 0) out.assign(data, data + n);
        (void)BIO_reset(wbio_);
        return out;
    }

    /// One step of the handshake on what the peer sent; answers with our next flight.
    EapStep drive() {
        ERR_clear_error();
        const int rc = SSL_do_handshake(ssl_.get());
        if (rc != 1) {
            const int e = SSL_get_error(ssl_.get(), rc);
            if (e != SSL_ERROR_WANT_READ) return handshake_failed();
            Bytes flight = take_output();
            if (flight.empty()) {
                // A TLS message ending mid-record: OpenSSL waits for the rest, which a
                // peer sends as fragments, never as a new message.
                ++g_counters.malformed;
                return failure("incomplete TLS message from the peer");
            }
            out_.load(std::move(flight));
            return send_next();
        }
        // The handshake is complete on our side: the peer's certificate verified.
        tls13_ = SSL_version(ssl_.get()) == TLS1_3_VERSION;
        if (tls13_) {
            // RFC 9190 §2.5: the protected success indication, one octet 0x00 of application data.
            const uint8_t zero = 0;
            if (SSL_write(ssl_.get(), &zero, 1) != 1) return handshake_failed();
        }
        if (!export_msk()) return failure("TLS keying material export failed");
        Bytes flight = take_output();
        state_ = State::FINAL_SENT;
        out_.load(std::move(flight));
        return send_next();
    }

    bool export_msk() {
        crypto::SecretBytes km(128);
        const bool t13 = tls13_;
        const std::string_view label = t13 ? kLabel13 : kLabel12;
        const int ok = SSL_export_keying_material(ssl_.get(), km.mutable_bytes().data(), km.size(), label.data(), label.size(),
                                                  t13 ? &kTypeCode : nullptr, t13 ? 1 : 0, t13 ? 1 : 0);
        if (ok != 1) return false;
        // MSK = Key_Material(0, 63); the EMSK (64..127) is not used by IKEv2.
        msk_ = crypto::SecretBytes(km.bytes().first(64));
        return true;
    }

    EapStep handshake_failed() {
        const bool cert = !refusal_.empty();
        if (cert) ++g_counters.cert_refused;
        else ++g_counters.handshake_failed;
        reason_ = cert ? refusal_ : "TLS handshake failed: " + openssl_error();
        ERR_clear_error();
        Bytes alert = take_output();
        if (alert.empty()) return failure(reason_);
        // RFC 5216 §2.1.3: the alert goes to the peer; its ACK is answered with EAP-Failure.
        state_ = State::FAILING;
        out_.load(std::move(alert));
        EapStep s = send_next();
        s.reason = reason_;
        return s;
    }

    EapStep peer_rejected(std::span<const uint8_t> d) {
        // The peer answered our last flight with a TLS alert instead of the ACK.
        ++g_counters.handshake_failed;
        eaptls::FrameError fe{};
        std::string why = "peer did not accept the TLS handshake";
        if (in_.add(d, fe) == eaptls::Reassembler::Result::DONE) {
            const Bytes& m = in_.message();
            if (m.size() >= 7 && m[0] == 21) why += std::string(" (alert ") + SSL_alert_desc_string_long(m[6]) + ")";
        }
        return failure(why);
    }

    EapStep success() {
        EapStep s;
        s.kind = EapStep::Kind::SUCCESS;
        s.eap = encode_eap({EapCode::SUCCESS, id_, EapType::IDENTITY, {}});
        s.user = identity_;
        if (opts_.users) {
            if (const User* u = opts_.users->find(identity_)) {
                if (!u->enabled) return failure("user disabled");
                s.user = u->name;
                s.framed_ip = u->static_ip;
                s.groups = u->groups;
            }
        }
        ++g_counters.succeeded;
        ++(tls13_ ? g_counters.tls13 : g_counters.tls12);
        s.msk = std::move(msk_);
        state_ = State::IDLE;
        return s;
    }

    EapTlsOptions opts_;
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
    std::unique_ptr<SSL, SslFree> ssl_;
    BIO* rbio_ = nullptr;  // owned by ssl_
    BIO* wbio_ = nullptr;  // owned by ssl_
    eaptls::Reassembler in_;
    eaptls::Fragmenter out_;
    State state_ = State::IDLE;
    std::string identity_;
    std::string subject_;
    std::string refusal_;  // set by verify_cb
    std::string reason_;   // FAILING: why
    uint8_t id_ = 0;
    unsigned rounds_ = 0;
    bool tls13_ = false;
    crypto::SecretBytes msk_;
};

}  // namespace

const EapTlsCounters& eap_tls_counters() noexcept { return g_counters; }

std::unique_ptr<EapServer> make_eap_tls(EapTlsOptions opts) { return std::make_unique<EapTls>(std::move(opts)); }

}  // namespace espgw::ike

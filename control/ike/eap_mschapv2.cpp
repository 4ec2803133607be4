#include "control/ike/eap_mschapv2.hpp"

#include "control/ike/eap_packet.hpp"
#include "control/ike/mschapv2.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {

enum class MsOp : uint8_t { CHALLENGE = 1, RESPONSE = 2, SUCCESS = 3, FAILURE = 4 };

constexpr std::string_view kServerName = "espgw";

EapStep failure(uint8_t id, std::string reason) {
    EapStep s;
    s.kind = EapStep::Kind::FAILURE;
    s.eap = encode_eap({EapCode::FAILURE, id, EapType::IDENTITY, {}});
    s.reason = std::move(reason);
    return s;
}

EapStep request(uint8_t id, EapType type, Bytes data) {
    EapStep s;
    s.kind = EapStep::Kind::CONTINUE;
    s.eap = encode_eap({EapCode::REQUEST, id, type, std::move(data)});
    return s;
}

EapStep success(uint8_t id, const User& u) {
    EapStep s;
    s.kind = EapStep::Kind::SUCCESS;
    s.eap = encode_eap({EapCode::SUCCESS, id, EapType::IDENTITY, {}});
    s.user = u.name;
    s.framed_ip = u.static_ip;
    s.groups = u.groups;
    return s;
}

/// Why `u` (found for `identity`) may not log in, or empty.
std::string refusal(const User* u) {
    if (!u) return "unknown user";
    if (!u->enabled) return "user disabled";
    return {};
}

class EapMschapv2 final : public EapServer {
public:
    explicit EapMschapv2(const UserDb& users) : users_(users) {}

    EapStep start(const std::string& identity) override {
        identity_ = identity;
        id_ = random_eap_identifier();
        if (RAND_bytes(challenge_.data(), static_cast<int>(challenge_.size())) != 1)
            throw std::runtime_error("RAND_bytes");
        // { OpCode, MS-CHAPv2-ID, MS-Length, Value-Size 16, Challenge, Name }
        Bytes d;
        const size_t ms_len = 5 + challenge_.size() + kServerName.size();
        d.push_back(static_cast<uint8_t>(MsOp::CHALLENGE));
        d.push_back(id_);
        d.push_back(static_cast<uint8_t>(ms_len >> 8));
        d.push_back(static_cast<uint8_t>(ms_len));
        d.push_back(static_cast<uint8_t>(challenge_.size()));
        d.insert(d.end(), challenge_.begin(), challenge_.end());
        d.insert(d.end(), kServerName.begin(), kServerName.end());
        state_ = State::CHALLENGE_SENT;
        return request(id_, EapType::MSCHAPV2, std::move(d));
    }

    EapStep process(std::span<const uint8_t> eap) override {
        EapPacket p;
        if (const EapError e = parse_eap(eap, p); e != EapError::OK)
            return failure(id_, std::string("malformed EAP response: ") + std::string(name(e)));
        if (p.code != EapCode::RESPONSE || p.identifier != id_)
            return failure(id_, "unexpected EAP packet (not the response to our request)");
        // The Failure Request went out: the peer's Failure Response (or anything else)
        // gets the EAP-Failure.
        if (state_ == State::FAILURE_SENT) return failure(id_, reason_);
        if (p.type == EapType::NAK) return failure(id_, "peer refused EAP-MSCHAPv2 (Nak)");
        if (p.type != EapType::MSCHAPV2 || p.data.empty()) return failure(id_, "unexpected EAP method in response");
        const auto op = static_cast<MsOp>(p.data[0]);
        if (state_ == State::CHALLENGE_SENT && op == MsOp::RESPONSE) return on_response(p.data);
        if (state_ == State::SUCCESS_SENT && op == MsOp::SUCCESS) {
            state_ = State::DONE;
            const User* u = users_.find(identity_);
            if (const std::string why = refusal(u); !why.empty()) return failure(id_, why);
            EapStep s = success(id_, *u);
            s.msk = std::move(msk_);
            return s;
        }
        if (op == MsOp::FAILURE) return failure(id_, "peer reported MSCHAPv2 failure");
        return failure(id_, "unexpected MSCHAPv2 opcode " + std::to_string(p.data[0]));
    }

private:
    enum class State { IDLE, CHALLENGE_SENT, SUCCESS_SENT, FAILURE_SENT, DONE };

    // RFC 2759 §6 error codes (Windows' ERROR_* numbers) in the Failure packet.
    static constexpr int kErrorAccountDisabled = 647;
    static constexpr int kErrorAuthenticationFailure = 691;

    // <-- Request/MSCHAPv2 Failure { OpCode 4, MS-CHAPv2-ID, MS-Length,
    //                               "E=eeee R=0 C=<new challenge> V=3 M=<message>" }
    // (RFC 2759 §6, draft-kamath-pppext-eap-mschapv2 §2): R=0, no retry on this
    // conversation; the peer acknowledges with a Failure Response and gets EAP-Failure.
    // Unknown users get 691 like a bad password (no user enumeration). `reason` goes to
    // the log now (the step's reason) and again with the EAP-Failure.
    EapStep failure_request(uint8_t ms_id, int error, std::string reason) {
        mschapv2::Challenge16 next{};
        if (RAND_bytes(next.data(), static_cast<int>(next.size())) != 1) throw std::runtime_error("RAND_bytes");
        std::string msg = "E=" + std::to_string(error) + " R=0 C=";
        static constexpr char kHex[] = "0123456789ABCDEF";
        for (uint8_t b : next) {
            msg.push_back(kHex[b >> 4]);
            msg.push_back(kHex[b & 15]);
        }
        msg += error == kErrorAccountDisabled ? " V=3 M=Account disabled" : " V=3 M=Authentication failed";
        Bytes out;
        const size_t len = 4 + msg.size();
        out.push_back(static_cast<uint8_t>(MsOp::FAILURE));
        out.push_back(ms_id);
        out.push_back(static_cast<uint8_t>(len >> 8));
        out.push_back(static_cast<uint8_t>(len));
        out.insert(out.end(), msg.begin(), msg.end());
        ++id_;
        state_ = State::FAILURE_SENT;
        reason_ = std::move(reason);
        EapStep s = request(id_, EapType::MSCHAPV2, std::move(out));
        s.reason = reason_;
        return s;
    }

    EapStep on_response(const Bytes& d) {
        // { OpCode 2, MS-CHAPv2-ID, MS-Length, Value-Size 49, Peer-Challenge 16,
        //   Reserved 8, NT-Response 24, Flags 1, Name }
        constexpr size_t kFixed = 5 + 49;
        if (d.size() < kFixed) return failure(id_, "truncated MSCHAPv2 response");
        const size_t ms_len = static_cast<size_t>(d[2]) << 8 | d[3];
        if (d[1] != id_ || d[4] != 49 || ms_len != d.size()) return failure(id_, "malformed MSCHAPv2 response");
        mschapv2::Challenge16 peer{};
        std::copy_n(d.begin() + 5, 16, peer.begin());
        mschapv2::NtResponse nt{};
        std::copy_n(d.begin() + 5 + 24, 24, nt.begin());
        const std::string name(d.begin() + kFixed, d.end());
        const std::string_view user_name = mschapv2::strip_domain(name);

        const User* u = users_.find(identity_);
        if (!u) return failure_request(d[1], kErrorAuthenticationFailure, "unknown user");
        if (!u->enabled) return failure_request(d[1], kErrorAccountDisabled, "user disabled");
        auto hash = users_.nt_hash(*u);
        if (!hash || hash->size() != 16)
            return failure_request(d[1], kErrorAuthenticationFailure, "no MSCHAPv2 password hash stored for the user");
        const auto expect = mschapv2::nt_response(challenge_, peer, user_name, hash->bytes());
        if (!crypto::ct_equal(expect.data(), nt.data(), nt.size()))
            return failure_request(d[1], kErrorAuthenticationFailure, "bad password");
        const std::string s =
            mschapv2::authenticator_response(hash->bytes(), nt, peer, challenge_, user_name) + " M=Welcome";
        msk_ = mschapv2::msk(hash->bytes(), nt);
        ++id_;
        Bytes out;
        const size_t len = 4 + s.size();
        out.push_back(static_cast<uint8_t>(MsOp::SUCCESS));
        out.push_back(d[1]);  // §: the Success request echoes the response's MS-CHAPv2-ID
        out.push_back(static_cast<uint8_t>(len >> 8));
        out.push_back(static_cast<uint8_t>(len));
        out.insert(out.end(), s.begin(), s.end());
        state_ = State::SUCCESS_SENT;
        return request(id_, EapType::MSCHAPV2, std::move(out));
    }

    const UserDb& users_;
    std::string identity_;
    State state_ = State::IDLE;
    uint8_t id_ = 0;
    mschapv2::Challenge16 challenge_{};
    crypto::SecretBytes msk_;
    std::string reason_;  // FAILURE_SENT: why, for the EAP-Failure step
};

class EapGtc final : public EapServer {
public:
    explicit EapGtc(const UserDb& users) : users_(users) {}

    EapStep start(const std::string& identity) override {
        identity_ = identity;
        id_ = random_eap_identifier();
        const std::string_view prompt = "Password: ";
        return request(id_, EapType::GTC, Bytes(prompt.begin(), prompt.end()));
    }

    EapStep process(std::span<const uint8_t> eap) override {
        EapPacket p;
        if (const EapError e = parse_eap(eap, p); e != EapError::OK)
            return failure(id_, std::string("malformed EAP response: ") + std::string(name(e)));
        if (p.code != EapCode::RESPONSE || p.identifier != id_)
            return failure(id_, "unexpected EAP packet (not the response to our request)");
        if (p.type == EapType::NAK) return failure(id_, "peer refused EAP-GTC (Nak)");
        if (p.type != EapType::GTC) return failure(id_, "unexpected EAP method in response");
        std::string password(p.data.begin(), p.data.end());
        crypto::secure_wipe(p.data.data(), p.data.size());
        const User* u = users_.find(identity_);
        std::string why = refusal(u);
        if (why.empty() && !users_.verify_password(*u, password)) why = "bad password";
        crypto::secure_wipe(password.data(), password.size());
        if (!why.empty()) return failure(id_, why);
        return success(id_, *u);
    }

private:
    const UserDb& users_;
    std::string identity_;
    uint8_t id_ = 0;
};

}  // namespace

uint8_t random_eap_identifier() {
    uint8_t id = 0;
    if (RAND_bytes(&id, 1) != 1) throw std::runtime_error("RAND_bytes");
    return id;
}

std::unique_ptr<EapServer> make_eap_mschapv2(const UserDb& users) { return std::make_unique<EapMschapv2>(users); }
std::unique_ptr<EapServer> make_eap_gtc(const UserDb& users) { return std::make_unique<EapGtc>(users); }

}  // namespace espgw::ike

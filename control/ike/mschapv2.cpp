#include "control/ike/mschapv2.hpp"

#include "control/ike/ms_crypto.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include <stdexcept>

namespace espgw::ike::mschapv2 {

namespace {

/// SHA-1 over the concatenation of `parts` (default library context: SHA-1 is not legacy).
std::array<uint8_t, 20> sha1(std::initializer_list<std::span<const uint8_t>> parts) {
    EVP_MD_CTX* c = EVP_MD_CTX_new();
    std::array<uint8_t, 20> out{};
    bool ok = c != nullptr && EVP_DigestInit_ex(c, EVP_sha1(), nullptr) == 1;
    for (auto p : parts) ok = ok && EVP_DigestUpdate(c, p.data(), p.size()) == 1;
    unsigned n = 0;
    ok = ok && EVP_DigestFinal_ex(c, out.data(), &n) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) throw std::runtime_error("SHA-1 failed");
    return out;
}

std::span<const uint8_t> text(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// RFC 2759 §8.7 and RFC 3079 §3.4 constants.
constexpr std::string_view kAuthMagic1 = "Magic server to client signing constant";
constexpr std::string_view kAuthMagic2 = "Pad to make it do more than one iteration";
constexpr std::string_view kMasterMagic = "This is the MPPE Master Key";
constexpr std::string_view kKeyMagic2 =
    "On the client side, this is the send key; on the server side, it is the receive key.";
constexpr std::string_view kKeyMagic3 =
    "On the client side, this is the receive key; on the server side, it is the send key.";

}  // namespace

std::string_view strip_domain(std::string_view name) noexcept {
    const size_t slash = name.rfind('\\');
    return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

std::array<uint8_t, 8> challenge_hash(const Challenge16& peer, const Challenge16& auth, std::string_view user_name) {
    const auto d = sha1({peer, auth, text(user_name)});
    std::array<uint8_t, 8> out{};
    std::copy_n(d.begin(), 8, out.begin());
    return out;
}

NtResponse nt_response(const Challenge16& auth, const Challenge16& peer, std::string_view user_name,
                       std::span<const uint8_t> password_hash) {
    if (password_hash.size() != 16) throw std::invalid_argument("NT password hash must be 16 bytes");
    const auto ch = challenge_hash(peer, auth, user_name);
    // §8.5: the hash padded with zeros to 21 bytes gives three 7-byte DES keys.
    uint8_t z[21] = {};
    std::copy(password_hash.begin(), password_hash.end(), z);
    NtResponse out{};
    for (int i = 0; i < 3; ++i) des_encrypt_block(z + 7 * i, ch.data(), out.data() + 8 * i);
    crypto::secure_wipe(z, sizeof z);
    return out;
}

std::string authenticator_response(std::span<const uint8_t> password_hash, const NtResponse& nt,
                                   const Challenge16& peer, const Challenge16& auth, std::string_view user_name) {
    const auto hh = md4(password_hash);
    const auto digest = sha1({hh, nt, text(kAuthMagic1)});
    const auto ch = challenge_hash(peer, auth, user_name);
    const auto d2 = sha1({digest, ch, text(kAuthMagic2)});
    static const char* hexd = "0123456789ABCDEF";
    std::string s = "S=";
    for (uint8_t b : d2) {
        s += hexd[b >> 4];
        s += hexd[b & 15];
    }
    return s;
}

std::array<uint8_t, 16> master_key(std::span<const uint8_t> password_hash_hash, const NtResponse& nt) {
    const auto d = sha1({password_hash_hash, nt, text(kMasterMagic)});
    std::array<uint8_t, 16> out{};
    std::copy_n(d.begin(), 16, out.begin());
    return out;
}

std::array<uint8_t, 16> asymmetric_start_key(const std::array<uint8_t, 16>& master, bool is_send, bool is_server) {
    // RFC 3079 §3.4: SHSpad1 is 40 zero bytes, SHSpad2 40 bytes of 0xf2.
    static const std::array<uint8_t, 40> pad1{};
    std::array<uint8_t, 40> pad2{};
    pad2.fill(0xf2);
    const std::string_view magic = is_send == is_server ? kKeyMagic3 : kKeyMagic2;
    const auto d = sha1({master, pad1, text(magic), pad2});
    std::array<uint8_t, 16> out{};
    std::copy_n(d.begin(), 16, out.begin());
    return out;
}

crypto::SecretBytes msk(std::span<const uint8_t> password_hash, const NtResponse& nt) {
    auto hh = md4(password_hash);
    auto mk = master_key(hh, nt);
    auto recv = asymmetric_start_key(mk, false, true);
    auto send = asymmetric_start_key(mk, true, true);
    crypto::SecretBytes out(64);
    auto o = out.mutable_bytes();
    std::copy(recv.begin(), recv.end(), o.begin());
    std::copy(send.begin(), send.end(), o.begin() + 16);
    crypto::secure_wipe(hh.data(), hh.size());
    crypto::secure_wipe(mk.data(), mk.size());
    crypto::secure_wipe(recv.data(), recv.size());
    crypto::secure_wipe(send.data(), send.size());
    return out;
}

}  // namespace espgw::ike::mschapv2

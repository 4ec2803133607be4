#include "control/ike/cookie_jar.hpp"

#include "control/ike/crypto_prf.hpp"
#include "crypto/secret.hpp"

#include <openssl/rand.h>

#include <stdexcept>

namespace espgw::ike {

namespace {
constexpr size_t MAC_BYTES = 16;
}

CookieJar::CookieJar(uint32_t rotate_s, std::chrono::steady_clock::time_point now)
    : period_(rotate_s ? rotate_s : 1), next_rotation_(now + period_) {
    rotate();
    previous_ = secret_;
}

void CookieJar::rotate() {
    previous_ = secret_;
    ++version_;
    if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1) throw std::runtime_error("RAND_bytes");
}

void CookieJar::tick(std::chrono::steady_clock::time_point now) {
    if (now < next_rotation_) return;
    rotate();
    next_rotation_ = now + period_;
}

Bytes CookieJar::mac(const std::array<uint8_t, 32>& secret, uint8_t version, std::span<const uint8_t> ni,
                     const Endpoint& peer, uint64_t spi_i) const {
    Bytes data(ni.begin(), ni.end());
    for (int i = 24; i >= 0; i -= 8) data.push_back(static_cast<uint8_t>(peer.addr_host >> i));
    for (int i = 56; i >= 0; i -= 8) data.push_back(static_cast<uint8_t>(spi_i >> i));
    Bytes out = Prf(PRF_HMAC_SHA2_256).compute(secret, data);
    out.resize(MAC_BYTES);
    out.insert(out.begin(), version);
    return out;
}

Bytes CookieJar::make(std::span<const uint8_t> ni, const Endpoint& peer, uint64_t spi_i) const {
    return mac(secret_, version_, ni, peer, spi_i);
}

bool CookieJar::verify(std::span<const uint8_t> cookie, std::span<const uint8_t> ni, const Endpoint& peer,
                       uint64_t spi_i) const {
    if (cookie.size() != 1 + MAC_BYTES) return false;
    const uint8_t v = cookie[0];
    const std::array<uint8_t, 32>* secret = v == version_ ? &secret_
                                            : v == static_cast<uint8_t>(version_ - 1) ? &previous_
                                                                                     : nullptr;
    if (!secret) return false;
    const Bytes want = mac(*secret, v, ni, peer, spi_i);
    return crypto::ct_equal(want.data(), cookie.data(), want.size());
}

}  // namespace espgw::ike

#pragma once
// Stateless cookies against IKE_SA_INIT floods (RFC 7296 §2.6):
//   Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
// with HMAC-SHA-256 keyed by a random secret that changes every `rotate_s` seconds;
// cookies made with the previous secret stay valid for one more period. Control
// thread only.

#include "control/ike/endpoint.hpp"
#include "control/ike/message.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <span>

namespace espgw::ike {

class CookieJar {
public:
    /// Throws std::runtime_error when the random generator fails.
    CookieJar(uint32_t rotate_s, std::chrono::steady_clock::time_point now);

    /// Changes the secret when its period is over.
    void tick(std::chrono::steady_clock::time_point now);
    /// The cookie for this initiator (17 bytes: version + 16 bytes of the MAC).
    Bytes make(std::span<const uint8_t> ni, const Endpoint& peer, uint64_t spi_i) const;
    /// True when `cookie` was made by make() with the current or the previous secret.
    /// Constant-time in the MAC comparison; never throws for peer input.
    bool verify(std::span<const uint8_t> cookie, std::span<const uint8_t> ni, const Endpoint& peer,
                uint64_t spi_i) const;

private:
    Bytes mac(const std::array<uint8_t, 32>& secret, uint8_t version, std::span<const uint8_t> ni,
              const Endpoint& peer, uint64_t spi_i) const;
    void rotate();

    std::chrono::seconds period_;
    std::chrono::steady_clock::time_point next_rotation_;
    uint8_t version_ = 0;
    std::array<uint8_t, 32> secret_{}, previous_{};
};

}  // namespace espgw::ike

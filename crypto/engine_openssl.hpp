#pragma once
// OpenSSL libcrypto engine: the reference implementation (tests cross-check the
// data-path engine against it) and the fallback where intel-ipsec-mb cannot run.

#include <cstdint>
#include <span>

#include "crypto/op.hpp"

namespace espgw::crypto {

class OsslEngine {
public:
    /// Allocates per-thread cipher/MAC contexts. Throws std::runtime_error on failure.
    OsslEngine();
    ~OsslEngine();
    OsslEngine(const OsslEngine&) = delete;
    OsslEngine& operator=(const OsslEngine&) = delete;

    /// Same contract as MbEngine::encrypt / MbEngine::decrypt, byte for byte.
    uint32_t encrypt(std::span<Op> ops) noexcept;
    uint32_t decrypt(std::span<Op> ops) noexcept;

private:
    struct Ctx;
    Ctx* ctx_ = nullptr;
};

}  // namespace espgw::crypto

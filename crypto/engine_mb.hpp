#pragma once
// intel-ipsec-mb engine: the data path. One per worker thread (an IMB_MGR is not
// thread safe). Bursts go through the job/burst API, GCM through the direct API, and
// short AES-GCM payloads through crypto/gcm_native (VAES + VPCLMULQDQ) where the CPU
// has it: there intel-ipsec-mb's per-call set-up dominates.

#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/op.hpp"

struct IMB_MGR;

namespace espgw::crypto {

class MbEngine {
public:
    /// Allocates and initialises a manager for the best instruction set this CPU has.
    /// Throws std::runtime_error when the library cannot run here.
    MbEngine();
    ~MbEngine();
    MbEngine(const MbEngine&) = delete;
    MbEngine& operator=(const MbEngine&) = delete;

    /// Encrypts every op in place and writes its ICV (and CBC IV). Sets each status;
    /// returns how many are ok. No allocation, no locks. Owning thread only.
    uint32_t encrypt(std::span<Op> ops) noexcept;
    /// Verifies every op's ICV in constant time, then decrypts in place. Sets each
    /// status (auth_failed on mismatch); returns how many are ok. Owning thread only.
    uint32_t decrypt(std::span<Op> ops) noexcept;

    /// "avx512", "avx2", "avx" or "sse": which code path the manager picked.
    std::string_view arch_name() const noexcept;
    IMB_MGR* mgr() noexcept { return mgr_; }

    /// AES-GCM payloads of at most this many bytes (with at most 16 bytes of AAD:
    /// ESP's 8 or 12) take gcm_native; 0 when the CPU cannot run it. Default
    /// kNativeGcmMaxBytes.
    uint32_t native_gcm_max() const noexcept { return native_max_; }
    /// Sets that limit (0: everything through intel-ipsec-mb), at most
    /// kNativeGcmMaxBytes; stays 0 where gcm_native cannot run. Benchmarks and tests.
    void set_native_gcm_max(uint32_t bytes) noexcept;

    /// gcm_native's longest payload (128 bytes: two 4-block groups). bench/esp_micro
    /// --native-max and --size compare it with intel-ipsec-mb at any size.
    static constexpr uint32_t kNativeGcmMaxBytes = 128;

private:
    IMB_MGR* mgr_ = nullptr;
    uint32_t native_max_ = 0;
};

}  // namespace espgw::crypto

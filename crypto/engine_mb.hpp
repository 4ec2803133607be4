#pragma once
// intel-ipsec-mb engine: the data path. One per worker thread (an IMB_MGR is not
// thread safe). Bursts go through the job/burst API, GCM through the direct API.

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

private:
    IMB_MGR* mgr_ = nullptr;
};

}  // namespace espgw::crypto

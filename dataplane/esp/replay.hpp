#pragma once
// ESP anti-replay window (RFC 4303 §3.4.3, Appendix A2 for ESN) kept as an RFC 6479
// style ring of 64-bit blocks: sliding the window clears whole blocks instead of
// shifting bits. Fixed size (no pointers) so it can live in shared memory.
// One writer: the worker that owns the inbound SA. Not thread safe.

#include <cstdint>

#include "dataplane/esp/drop_reason.hpp"

namespace espgw::esp {

inline constexpr uint32_t kReplayWindowMin = 64;
inline constexpr uint32_t kReplayWindowMax = 4096;
inline constexpr uint32_t kReplayWindowDefault = 1024;

struct ReplayWindow {
    /// RFC 6479: one block more than the largest window, so the block holding the
    /// top never aliases a block still inside the window.
    static constexpr uint32_t kBlocks = kReplayWindowMax / 64 + 1;

    uint64_t top = 0;           ///< highest authenticated sequence number (full 64 bit); 0 = none yet
    uint32_t size = 0;          ///< window size in packets; 0 = anti-replay off
    uint32_t reserved_ = 0;
    uint64_t bits[kBlocks] = {};

    /// Resets to "nothing received" with a window of `window_size` packets
    /// (0, or kReplayWindowMin..kReplayWindowMax; other values are clamped).
    void reset(uint32_t window_size, uint64_t initial_top = 0) noexcept;

    /// RFC 4303 §3.4.3 check, read-only, done before the ICV. Reconstructs the full
    /// sequence number from the 32 received bits (`esn`: Appendix A2.2 inference of
    /// the high half, else high half 0) into `*seq_out`. Returns none, seq_zero,
    /// replay_old or replay_duplicate. With size 0 only seq_zero (non-ESN) is checked.
    DropReason check(uint32_t seq_lo, bool esn, uint64_t* seq_out) const noexcept {
        if (!esn) {
            *seq_out = seq_lo;
            return check_full(seq_lo);
        }
        return check_esn(seq_lo, seq_out);
    }

    /// Re-checks the full sequence number `seq` (another packet of the same burst may
    /// have advanced the window since check()) and, when still acceptable, marks it
    /// received and slides the window. Call only after the ICV verified.
    DropReason check_and_advance(uint64_t seq) noexcept;

    /// Read-only check of a full 64-bit sequence number. Inline: every packet, twice.
    DropReason check_full(uint64_t seq) const noexcept {
        if (seq == 0) [[unlikely]]
            return DropReason::seq_zero;
        if (seq > top || size == 0) return DropReason::none;
        if (top - seq >= size) [[unlikely]]
            return DropReason::replay_old;
        const uint64_t word = bits[(seq >> 6) % kBlocks];
        if ((word >> (seq & 63)) & 1) [[unlikely]]
            return DropReason::replay_duplicate;
        return DropReason::none;
    }

private:
    DropReason check_esn(uint32_t seq_lo, uint64_t* seq_out) const noexcept;
};

}  // namespace espgw::esp

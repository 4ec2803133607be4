// Anti-replay window: RFC 4303 §3.4.3 and Appendix A2 (ESN), bitmap per RFC 6479.
#include "dataplane/esp/replay.hpp"

#include <cstring>

namespace espgw::esp {

void ReplayWindow::reset(uint32_t window_size, uint64_t initial_top) noexcept {
    if (window_size != 0 && window_size < kReplayWindowMin) window_size = kReplayWindowMin;
    if (window_size > kReplayWindowMax) window_size = kReplayWindowMax;
    size = window_size;
    top = initial_top;
    reserved_ = 0;
    std::memset(bits, 0, sizeof bits);
}

DropReason ReplayWindow::check_esn(uint32_t seq_lo, uint64_t* seq_out) const noexcept {
    uint64_t seq = seq_lo;
    {
        // RFC 4303 Appendix A2.2: infer the high half from where the window sits.
        // The window is [T - W + 1, T]; Tl/Th are the halves of T.
        const uint32_t w = size ? size : kReplayWindowMin;
        const uint32_t tl = static_cast<uint32_t>(top);
        const uint64_t th = top >> 32;
        const uint32_t bottom_lo = tl - w + 1;  // mod 2^32 on purpose (case B)
        uint64_t seq_hi;
        if (tl >= w - 1) {
            // Case A: the window lies within one sequence number subspace.
            seq_hi = seq_lo >= bottom_lo ? th : th + 1;
        } else {
            // Case B: the window spans two subspaces.
            if (seq_lo >= bottom_lo) {
                if (th == 0) [[unlikely]]
                    return DropReason::replay_old;  // before the very first subspace
                seq_hi = th - 1;
            } else {
                seq_hi = th;
            }
        }
        if (seq_hi > 0xffffffffu) [[unlikely]]
            return DropReason::replay_old;  // would wrap 2^64: the sender must have stopped
        seq = (seq_hi << 32) | seq_lo;
    }
    *seq_out = seq;
    return check_full(seq);
}

DropReason ReplayWindow::check_and_advance(uint64_t seq) noexcept {
    const DropReason r = check_full(seq);
    if (r != DropReason::none) [[unlikely]]
        return r;
    if (seq > top) {
        if (size != 0) {
            // RFC 6479: clear the blocks the top moves into; a jump of a whole ring
            // or more clears everything.
            const uint64_t old_blk = top >> 6;
            const uint64_t new_blk = seq >> 6;
            const uint64_t diff = new_blk - old_blk;
            if (diff >= kBlocks) {
                std::memset(bits, 0, sizeof bits);
            } else {
                for (uint64_t i = 1; i <= diff; ++i) bits[(old_blk + i) % kBlocks] = 0;
            }
        }
        top = seq;
    }
    if (size != 0) bits[(seq >> 6) % kBlocks] |= uint64_t{1} << (seq & 63);
    return DropReason::none;
}

}  // namespace espgw::esp

#include "control/ike/eap_tls_framing.hpp"

#include <algorithm>

namespace espgw::ike::eaptls {

std::string_view name(FrameError e) noexcept {
    switch (e) {
        case FrameError::OK: return "ok";
        case FrameError::TRUNCATED: return "truncated EAP-TLS packet";
        case FrameError::OVERSIZE: return "TLS message larger than the limit";
        case FrameError::LENGTH_MISMATCH: return "EAP-TLS fragments do not match the TLS Message Length";
        case FrameError::NO_LENGTH: return "first EAP-TLS fragment without the L flag";
        case FrameError::EMPTY_FRAGMENT: return "empty EAP-TLS fragment with the M flag";
    }
    return "?";
}

bool is_ack(std::span<const uint8_t> type_data) noexcept { return type_data.size() == 1 && type_data[0] == 0; }

void Reassembler::reset() noexcept {
    buf_.clear();
    total_.reset();
    in_progress_ = false;
}

Reassembler::Result Reassembler::add(std::span<const uint8_t> d, FrameError& err) {
    err = FrameError::OK;
    if (d.empty()) {
        err = FrameError::TRUNCATED;
        return Result::ERROR;
    }
    const uint8_t flags = d[0];
    size_t off = 1;
    if (flags & FLAG_LENGTH) {
        if (d.size() < 5) {
            err = FrameError::TRUNCATED;
            return Result::ERROR;
        }
        const uint32_t len = static_cast<uint32_t>(d[1]) << 24 | static_cast<uint32_t>(d[2]) << 16 |
                             static_cast<uint32_t>(d[3]) << 8 | d[4];
        off = 5;
        if (len > max_) {
            err = FrameError::OVERSIZE;
            return Result::ERROR;
        }
        // §2.1.5: later fragments may repeat the length; it must not change.
        if (total_ && *total_ != len) {
            err = FrameError::LENGTH_MISMATCH;
            return Result::ERROR;
        }
        total_ = len;
    } else if (!in_progress_ && (flags & FLAG_MORE)) {
        err = FrameError::NO_LENGTH;
        return Result::ERROR;
    }
    const auto data = d.subspan(off);
    if ((flags & FLAG_MORE) && data.empty()) {
        err = FrameError::EMPTY_FRAGMENT;
        return Result::ERROR;
    }
    if (buf_.size() + data.size() > max_) {
        err = FrameError::OVERSIZE;
        return Result::ERROR;
    }
    if (total_ && buf_.size() + data.size() > *total_) {
        err = FrameError::LENGTH_MISMATCH;
        return Result::ERROR;
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    in_progress_ = true;
    if (flags & FLAG_MORE) return Result::MORE;
    if (total_ && buf_.size() != *total_) {
        err = FrameError::LENGTH_MISMATCH;
        return Result::ERROR;
    }
    return Result::DONE;
}

void Fragmenter::load(Bytes msg) {
    msg_ = std::move(msg);
    off_ = 0;
}

Bytes Fragmenter::next(uint8_t extra_flags) {
    Bytes out;
    const size_t left = msg_.size() - std::min(off_, msg_.size());
    if (left == 0) {
        out.push_back(extra_flags);
        return out;
    }
    const bool first = off_ == 0;
    const bool fits = left + 1 <= frag_ && first;  // a whole message needs no length
    if (fits || (!first && left + 1 <= frag_)) {
        out.reserve(1 + left);
        out.push_back(extra_flags);
        out.insert(out.end(), msg_.begin() + static_cast<ptrdiff_t>(off_), msg_.end());
        off_ = msg_.size();
        return out;
    }
    uint8_t flags = static_cast<uint8_t>(extra_flags | FLAG_MORE);
    size_t room = frag_ - 1;
    if (first) {
        flags |= FLAG_LENGTH;
        room -= 4;
    }
    const size_t n = std::min(room, left);
    if (n == left) flags &= static_cast<uint8_t>(~FLAG_MORE);
    out.push_back(flags);
    if (first) {
        const auto total = static_cast<uint32_t>(msg_.size());
        out.push_back(static_cast<uint8_t>(total >> 24));
        out.push_back(static_cast<uint8_t>(total >> 16));
        out.push_back(static_cast<uint8_t>(total >> 8));
        out.push_back(static_cast<uint8_t>(total));
    }
    out.insert(out.end(), msg_.begin() + static_cast<ptrdiff_t>(off_), msg_.begin() + static_cast<ptrdiff_t>(off_ + n));
    off_ += n;
    return out;
}

}  // namespace espgw::ike::eaptls

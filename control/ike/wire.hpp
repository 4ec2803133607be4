#pragma once
// Bounds-checked big-endian readers/writers for the IKE codec. A Reader never reads
// past its span: every get reports failure instead, and the caller maps it to a
// ParseError.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace espgw::ike::wire {

/// Sequential reader over a byte span; all getters return false when short.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> d) noexcept : d_(d) {}
    size_t left() const noexcept { return d_.size() - pos_; }
    size_t pos() const noexcept { return pos_; }
    bool u8(uint8_t& v) noexcept {
        if (left() < 1) return false;
        v = d_[pos_++];
        return true;
    }
    bool u16(uint16_t& v) noexcept {
        if (left() < 2) return false;
        v = static_cast<uint16_t>(d_[pos_] << 8 | d_[pos_ + 1]);
        pos_ += 2;
        return true;
    }
    bool u32(uint32_t& v) noexcept {
        if (left() < 4) return false;
        v = static_cast<uint32_t>(d_[pos_]) << 24 | static_cast<uint32_t>(d_[pos_ + 1]) << 16 |
            static_cast<uint32_t>(d_[pos_ + 2]) << 8 | d_[pos_ + 3];
        pos_ += 4;
        return true;
    }
    bool u64(uint64_t& v) noexcept {
        uint32_t hi = 0, lo = 0;
        if (left() < 8) return false;
        u32(hi);
        u32(lo);
        v = static_cast<uint64_t>(hi) << 32 | lo;
        return true;
    }
    bool bytes(size_t n, std::span<const uint8_t>& out) noexcept {
        if (left() < n) return false;
        out = d_.subspan(pos_, n);
        pos_ += n;
        return true;
    }
    bool bytes(size_t n, std::vector<uint8_t>& out) {
        std::span<const uint8_t> s;
        if (!bytes(n, s)) return false;
        out.assign(s.begin(), s.end());
        return true;
    }
    std::span<const uint8_t> rest() const noexcept { return d_.subspan(pos_); }

private:
    std::span<const uint8_t> d_;
    size_t pos_ = 0;
};

inline void put_u8(std::vector<uint8_t>& o, uint8_t v) { o.push_back(v); }
inline void put_u16(std::vector<uint8_t>& o, uint16_t v) {
    o.push_back(static_cast<uint8_t>(v >> 8));
    o.push_back(static_cast<uint8_t>(v));
}
inline void put_u32(std::vector<uint8_t>& o, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) o.push_back(static_cast<uint8_t>(v >> s));
}
inline void put_u64(std::vector<uint8_t>& o, uint64_t v) {
    put_u32(o, static_cast<uint32_t>(v >> 32));
    put_u32(o, static_cast<uint32_t>(v));
}
inline void put_bytes(std::vector<uint8_t>& o, std::span<const uint8_t> b) {
    o.insert(o.end(), b.begin(), b.end());
}
/// Overwrites a big-endian u16 at `at` (length back-patching).
inline void patch_u16(std::vector<uint8_t>& o, size_t at, uint16_t v) {
    o[at] = static_cast<uint8_t>(v >> 8);
    o[at + 1] = static_cast<uint8_t>(v);
}
inline void patch_u32(std::span<uint8_t> o, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) o[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

}  // namespace espgw::ike::wire

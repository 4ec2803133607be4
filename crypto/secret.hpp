#pragma once
// Move-only owner of key material on the control path. Wipes itself on destruction
// and move-from, is excluded from core dumps, and has no way to be printed.

#include <cstddef>
#include <cstring>
#include <cstdint>
#include <span>
#include <string_view>

namespace espgw::crypto {

/// Zeroes `n` bytes at `p` in a way the compiler may not elide.
void secure_wipe(void* p, size_t n) noexcept;

/// Constant-time comparison of two equal-length buffers: true when equal.
bool ct_equal(const uint8_t* a, const uint8_t* b, size_t n) noexcept;
/// ct_equal for two 16-byte tags, inline (no early exit, no call): the per-packet
/// AES-GCM ICV check.
inline bool ct_equal16(const uint8_t* a, const uint8_t* b) noexcept {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&a1, a + 8, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&b1, b + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

class SecretBytes {
public:
    SecretBytes() = default;
    /// Allocates `n` zero bytes, marked MADV_DONTDUMP when the page allows it.
    explicit SecretBytes(size_t n);
    /// Copies `src` into a new secret; the caller wipes its own copy.
    explicit SecretBytes(std::span<const uint8_t> src);
    /// Parses hex ("0x" prefix and ':' separators allowed). Throws std::invalid_argument
    /// naming the problem (never echoing the input) on bad hex.
    static SecretBytes from_hex(std::string_view hex);

    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& o) noexcept;
    SecretBytes& operator=(SecretBytes&& o) noexcept;
    ~SecretBytes();

    std::span<const uint8_t> bytes() const noexcept { return {data_, size_}; }
    std::span<uint8_t> mutable_bytes() noexcept { return {data_, size_}; }
    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

private:
    void release() noexcept;
    uint8_t* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace espgw::crypto

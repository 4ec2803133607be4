#pragma once
// Internet checksum (RFC 1071) and its incremental update (RFC 1624). Pure functions,
// any thread, no allocation.

#include <cstddef>
#include <cstdint>

namespace espgw::net {

/// One's-complement sum of `len` bytes at `p` (big-endian 16-bit words, an odd last
/// byte padded with zero) added to `sum`. Not folded; feed it to csum_fold.
uint32_t csum_partial(const uint8_t* p, size_t len, uint32_t sum) noexcept;

/// Folds a 32-bit partial sum to 16 bits and complements it: the value to store
/// (host order; store with store_be16).
inline uint16_t csum_fold(uint32_t sum) noexcept {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

/// Header checksum of the IPv4 header at `hdr` (`ihl_bytes` long), with its checksum
/// field treated as zero. Host order.
uint16_t ipv4_header_checksum(const uint8_t* hdr, size_t ihl_bytes) noexcept;

/// Recomputes and stores the checksum of the IPv4 header at `hdr`.
void ipv4_set_checksum(uint8_t* hdr) noexcept;

/// RFC 1624 eqn. 3: the checksum (host order) after one 16-bit word of the covered
/// data changes from `old_word` to `new_word`.
inline uint16_t csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word) noexcept {
    // HC' = ~(~HC + ~m + m')
    uint32_t s = static_cast<uint16_t>(~csum);
    s += static_cast<uint16_t>(~old_word);
    s += new_word;
    return csum_fold(s);
}

/// Full TCP/UDP/ICMPv6 checksum over the pseudo-header (RFC 768, RFC 8200 §8.1) plus
/// `l4_len` bytes at `l4` (its checksum field must be zeroed by the caller first).
/// `src`/`dst` are 4 or 16 bytes depending on `ip_version`. Host order; a UDP result
/// of 0 must be sent as 0xFFFF (the caller does that).
uint16_t l4_checksum(uint8_t ip_version, const uint8_t* src, const uint8_t* dst,
                     uint8_t proto, const uint8_t* l4, size_t l4_len) noexcept;

}  // namespace espgw::net

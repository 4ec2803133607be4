// Internet checksum, RFC 1071 / RFC 1624.
#include "dataplane/net/checksum.hpp"

#include "dataplane/net/ip.hpp"

namespace espgw::net {

uint32_t csum_partial(const uint8_t* p, size_t len, uint32_t sum) noexcept {
    // 64-bit accumulator of 16-bit words: no carry handling inside the loop.
    uint64_t acc = sum;
    while (len >= 8) {
        acc += load_be16(p) + load_be16(p + 2) + load_be16(p + 4) + load_be16(p + 6);
        p += 8;
        len -= 8;
    }
    while (len >= 2) {
        acc += load_be16(p);
        p += 2;
        len -= 2;
    }
    if (len) acc += uint32_t{p[0]} << 8;
    while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t ipv4_header_checksum(const uint8_t* hdr, size_t ihl_bytes) noexcept {
    uint32_t s = csum_partial(hdr, 10, 0);
    s = csum_partial(hdr + 12, ihl_bytes - 12, s);
    return csum_fold(s);
}

void ipv4_set_checksum(uint8_t* hdr) noexcept {
    const size_t ihl = size_t{hdr[0] & 0x0fu} * 4;
    store_be16(hdr + 10, ipv4_header_checksum(hdr, ihl));
}

uint16_t l4_checksum(uint8_t ip_version, const uint8_t* src, const uint8_t* dst, uint8_t proto,
                     const uint8_t* l4, size_t l4_len) noexcept {
    const size_t alen = ip_version == 6 ? 16 : 4;
    uint32_t s = csum_partial(src, alen, 0);
    s = csum_partial(dst, alen, s);
    s += proto;
    s += static_cast<uint32_t>(l4_len & 0xffff) + static_cast<uint32_t>(l4_len >> 16);
    s = csum_partial(l4, l4_len, s);
    return csum_fold(s);
}

}  // namespace espgw::net

#include "control/ike/dp_agent_proto.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace espgw::ike::agent {

Writer::~Writer() { crypto::secure_wipe(buf_.data(), buf_.size()); }

Writer& Writer::u8(uint8_t v) {
    buf_.push_back(v);
    return *this;
}
Writer& Writer::u16(uint16_t v) { return u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); }
Writer& Writer::u32(uint32_t v) { return u16(static_cast<uint16_t>(v)).u16(static_cast<uint16_t>(v >> 16)); }
Writer& Writer::u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }

Writer& Writer::bytes(std::span<const uint8_t> b) {
    u32(static_cast<uint32_t>(b.size()));
    // Grow by hand: a reallocation must not leave a key copy behind unwiped.
    if (buf_.capacity() < buf_.size() + b.size()) {
        std::vector<uint8_t> bigger;
        bigger.reserve((buf_.size() + b.size()) * 2);
        bigger.assign(buf_.begin(), buf_.end());
        crypto::secure_wipe(buf_.data(), buf_.size());
        buf_.swap(bigger);
    }
    buf_.insert(buf_.end(), b.begin(), b.end());
    return *this;
}

Writer& Writer::str(const std::string& s) {
    return bytes(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

Writer& Writer::endpoint(const Endpoint& e) { return u32(e.addr_host).u16(e.port); }

Writer& Writer::info(const ChildSaInfo& i) {
    str(i.connection).str(i.peer_identity).endpoint(i.local).endpoint(i.remote);
    u8(i.udp_encap).u8(static_cast<uint8_t>(i.mode)).u8(i.initiator).u32(i.spi_in).u32(i.spi_out);
    u16(i.alg.encr).u16(i.alg.encr_key_bits).u16(i.alg.integ).u16(i.alg.prf);
    u16(static_cast<uint16_t>(i.alg.dh)).u8(i.alg.esn);
    for (const auto* list : {&i.ts_local, &i.ts_remote}) {
        u32(static_cast<uint32_t>(list->size()));
        for (const TrafficSelector& t : *list)
            u8(t.ts_type).u8(t.ip_proto).u16(t.start_port).u16(t.end_port).bytes(t.start_addr).bytes(t.end_addr);
    }
    u8(i.virtual_ip.has_value()).u32(i.virtual_ip.value_or(0));
    bytes(i.virtual_ip6 ? std::span<const uint8_t>(*i.virtual_ip6) : std::span<const uint8_t>{});
    u32(static_cast<uint32_t>(i.groups.size()));
    for (const std::string& g : i.groups) str(g);
    u64(i.initial_seq_out);
    return u8(i.defer_out);
}

Writer& Writer::keys(const ChildSaKeys& k) {
    return bytes(k.encr_i.bytes()).bytes(k.integ_i.bytes()).bytes(k.encr_r.bytes()).bytes(k.integ_r.bytes());
}

bool Reader::take(size_t n) {
    if (failed_ || p_.size() - off_ < n) {
        failed_ = true;
        return false;
    }
    return true;
}

Msg Reader::type() { return static_cast<Msg>(u8()); }

uint8_t Reader::u8() {
    if (!take(1)) return 0;
    return p_[off_++];
}
uint16_t Reader::u16() {
    const uint16_t lo = u8();
    return static_cast<uint16_t>(lo | u8() << 8);
}
uint32_t Reader::u32() {
    const uint32_t lo = u16();
    return lo | uint32_t{u16()} << 16;
}
uint64_t Reader::u64() {
    const uint64_t lo = u32();
    return lo | uint64_t{u32()} << 32;
}

std::vector<uint8_t> Reader::bytes() {
    const uint32_t n = u32();
    if (!take(n)) return {};
    std::vector<uint8_t> out(p_.begin() + static_cast<ptrdiff_t>(off_), p_.begin() + static_cast<ptrdiff_t>(off_ + n));
    off_ += n;
    return out;
}

std::string Reader::str() {
    const auto b = bytes();
    return std::string(b.begin(), b.end());
}

Endpoint Reader::endpoint() {
    Endpoint e;
    e.addr_host = u32();
    e.port = u16();
    return e;
}

ChildSaInfo Reader::info() {
    ChildSaInfo i;
    i.connection = str();
    i.peer_identity = str();
    i.local = endpoint();
    i.remote = endpoint();
    i.udp_encap = u8() != 0;
    const uint8_t mode = u8();
    if (mode > static_cast<uint8_t>(ChildMode::transport)) failed_ = true;
    i.mode = mode == static_cast<uint8_t>(ChildMode::transport) ? ChildMode::transport : ChildMode::tunnel;
    i.initiator = u8() != 0;
    i.spi_in = u32();
    i.spi_out = u32();
    i.alg.encr = u16();
    i.alg.encr_key_bits = u16();
    i.alg.integ = u16();
    i.alg.prf = u16();
    i.alg.dh = static_cast<DhGroup>(u16());
    i.alg.esn = u8() != 0;
    for (auto* list : {&i.ts_local, &i.ts_remote}) {
        const uint32_t n = u32();
        for (uint32_t k = 0; k < n && !failed_; ++k) {
            TrafficSelector t;
            t.ts_type = u8();
            t.ip_proto = u8();
            t.start_port = u16();
            t.end_port = u16();
            t.start_addr = bytes();
            t.end_addr = bytes();
            list->push_back(std::move(t));
        }
    }
    const bool vip = u8() != 0;
    const uint32_t v = u32();
    if (vip) i.virtual_ip = v;
    if (const std::vector<uint8_t> v6 = bytes(); v6.size() == 16) {
        i.virtual_ip6.emplace();
        std::copy(v6.begin(), v6.end(), i.virtual_ip6->begin());
    }
    const uint32_t ng = u32();
    for (uint32_t k = 0; k < ng && !failed_; ++k) i.groups.push_back(str());
    i.initial_seq_out = u64();
    i.defer_out = u8() != 0;
    return i;
}

ChildSaKeys Reader::keys() {
    ChildSaKeys k;
    for (crypto::SecretBytes* s : {&k.encr_i, &k.integ_i, &k.encr_r, &k.integ_r}) {
        std::vector<uint8_t> b = bytes();
        *s = crypto::SecretBytes(b);
        crypto::secure_wipe(b.data(), b.size());
    }
    return k;
}

bool send_msg(int fd, const Writer& w) {
    const auto d = w.data();
    for (;;) {
        const ssize_t n = ::send(fd, d.data(), d.size(), MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(d.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

int recv_msg(int fd, std::vector<uint8_t>& buf, bool block) {
    buf.resize(kMaxMessage);
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), block ? 0 : MSG_DONTWAIT);
        if (n > 0) {
            buf.resize(static_cast<size_t>(n));
            return 1;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        buf.clear();
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : 0;
    }
}

}  // namespace espgw::ike::agent

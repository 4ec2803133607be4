#include "crypto/secret.hpp"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <new>
#include <stdexcept>

namespace espgw::crypto {

void secure_wipe(void* p, size_t n) noexcept {
    if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

bool ct_equal(const uint8_t* a, const uint8_t* b, size_t n) noexcept {
    return CRYPTO_memcmp(a, b, n) == 0;
}

namespace {
size_t page_round(size_t n) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
}
}  // namespace

// Key material gets its own anonymous mapping so it can be excluded from core
// dumps (MADV_DONTDUMP) and never shares a page with printable data.
SecretBytes::SecretBytes(size_t n) : size_(n) {
    if (n == 0) return;
    void* p = mmap(nullptr, page_round(n), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)madvise(p, page_round(n), MADV_DONTDUMP);  // best effort: keys stay usable without it
    data_ = static_cast<uint8_t*>(p);
}

SecretBytes::SecretBytes(std::span<const uint8_t> src) : SecretBytes(src.size()) {
    for (size_t i = 0; i < src.size(); ++i) data_[i] = src[i];
}

SecretBytes SecretBytes::from_hex(std::string_view hex) {
    if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
    size_t digits = 0;
    for (char c : hex) {
        if (c == ':' || c == ' ') continue;
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!ok) throw std::invalid_argument("key: not a hexadecimal digit");
        ++digits;
    }
    if (digits % 2 != 0) throw std::invalid_argument("key: odd number of hexadecimal digits");
    SecretBytes out(digits / 2);
    auto val = [](char c) -> uint8_t {
        if (c <= '9') return static_cast<uint8_t>(c - '0');
        if (c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
        return static_cast<uint8_t>(c - 'a' + 10);
    };
    size_t nib = 0;
    for (char c : hex) {
        if (c == ':' || c == ' ') continue;
        uint8_t& b = out.data_[nib / 2];
        b = static_cast<uint8_t>((b << 4) | val(c));
        ++nib;
    }
    return out;
}

SecretBytes::SecretBytes(SecretBytes&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
        release();
        data_ = o.data_;
        size_ = o.size_;
        o.data_ = nullptr;
        o.size_ = 0;
    }
    return *this;
}

SecretBytes::~SecretBytes() { release(); }

void SecretBytes::release() noexcept {
    if (data_ == nullptr) return;
    secure_wipe(data_, size_);
    munmap(data_, page_round(size_));
    data_ = nullptr;
    size_ = 0;
}

}  // namespace espgw::crypto

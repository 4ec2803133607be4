#include "control/ike/crypto_prf.hpp"

#include "control/ike/algorithms.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <stdexcept>

namespace espgw::ike {

namespace {
const EVP_MD* md_for(uint16_t id) {
    switch (id) {
        case PRF_HMAC_SHA1: return EVP_sha1();
        case PRF_HMAC_SHA2_256: return EVP_sha256();
        case PRF_HMAC_SHA2_384: return EVP_sha384();
        case PRF_HMAC_SHA2_512: return EVP_sha512();
        default: return nullptr;
    }
}
}  // namespace

Prf::Prf(uint16_t prf_id) : id_(prf_id), out_len_(prf_bytes(prf_id)) {
    if (md_for(prf_id) == nullptr) throw std::invalid_argument("unsupported PRF transform");
}

std::vector<uint8_t> Prf::compute(std::span<const uint8_t> key, std::span<const uint8_t> data) const {
    std::vector<uint8_t> out(out_len_);
    unsigned int len = 0;
    static const uint8_t empty = 0;
    if (HMAC(md_for(id_), key.empty() ? &empty : key.data(), static_cast<int>(key.size()),
             data.empty() ? &empty : data.data(), data.size(), out.data(), &len) == nullptr ||
        len != out_len_)
        throw std::runtime_error("HMAC failed");
    return out;
}

crypto::SecretBytes Prf::plus(std::span<const uint8_t> key, std::span<const uint8_t> seed, size_t len) const {
    if (len > 255 * out_len_) throw std::length_error("prf+ output longer than 255 blocks");
    crypto::SecretBytes out(len);
    std::vector<uint8_t> t;  // T(n-1)
    std::vector<uint8_t> input;
    size_t done = 0;
    for (unsigned n = 1; done < len; ++n) {
        input.clear();
        input.insert(input.end(), t.begin(), t.end());
        input.insert(input.end(), seed.begin(), seed.end());
        input.push_back(static_cast<uint8_t>(n));
        crypto::secure_wipe(t.data(), t.size());
        t = compute(key, input);
        const size_t take = std::min(t.size(), len - done);
        std::copy_n(t.begin(), take, out.mutable_bytes().begin() + static_cast<ptrdiff_t>(done));
        done += take;
    }
    crypto::secure_wipe(t.data(), t.size());
    crypto::secure_wipe(input.data(), input.size());
    return out;
}

}  // namespace espgw::ike

#pragma once
// One ESP crypto operation: where the bytes of one packet are. The ESP transform
// (dataplane/esp) fills these; an engine processes a burst of them.

#include <cstdint>

#include "crypto/session.hpp"

namespace espgw::crypto {

enum class OpStatus : uint8_t {
    ok,
    auth_failed,  ///< ICV mismatch (decrypt only); data content is unspecified: drop it
    error,        ///< bad lengths/alignment for the suite (CBC data_len 0 or not a multiple
                  ///< of 16, GMAC data_len != 0, a null pointer where bytes are needed);
                  ///< nothing was written
};

struct Op {
    const Session* session;
    /// AEAD/GMAC: the 8-byte IV carried in the packet (nonce = salt || iv).
    /// CBC: the 16-byte IV in the packet; on encrypt the engine *writes* it there,
    /// derived from `iv_seed` (NIST SP 800-38A App. C: forward cipher of a nonce under
    /// the SA key), so IVs are unpredictable without an RNG on the hot path.
    uint8_t* iv;
    uint64_t iv_seed;  ///< CBC encrypt only: a value never reused for this key (the ESP sequence number)
    /// AEAD: additional authenticated data (SPI || seq [|| seq_hi]).
    /// GMAC: everything that is authenticated (RFC 4543 §3.3), contiguous.
    const uint8_t* aad;
    uint32_t aad_len;
    /// AEAD/CBC: the region encrypted/decrypted in place. GMAC/NULL: data_len == 0 (GMAC)
    /// or the payload that stays clear (NULL).
    uint8_t* data;
    uint32_t data_len;
    /// HMAC suites: the region the ICV covers (ESP header .. end of ciphertext, plus the
    /// 4 high bytes of the ESN when ESN is on, RFC 4303 §3.3.2.1). Unused for AEAD/GMAC.
    const uint8_t* auth;
    uint32_t auth_len;
    /// Encrypt: where the ICV is written (may overlap the end of `auth`: the engine
    /// writes it only after hashing). Decrypt: the received ICV, compared in constant
    /// time; must not overlap `auth`.
    uint8_t* icv;
    OpStatus status;
};

}  // namespace espgw::crypto

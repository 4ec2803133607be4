#pragma once
// The local user database of remote-access users (issue 6): name, real name, e-mail
// (also usable as the IKE / EAP identity), password, optional static virtual IP,
// groups, enabled flag. Kept in its own TOML file ([ike] users_file), separate from the
// configuration, because `espctl user add|del|passwd` rewrite it while espgw-ike runs.
//
// Passwords are never stored in plaintext:
//   - password_hash: PBKDF2-HMAC-SHA256 with a random 16-byte salt and an iteration
//     count ("pbkdf2-sha256$<iter>$<salt b64>$<hash b64>"); verify_password() checks it
//     (EAP-GTC, the CLI).
//   - nt_hash: EAP-MSCHAPv2 (RFC 2759) needs MD4(UTF-16LE(password)) on the server. That
//     value is password-equivalent for MSCHAPv2, so it is stored sealed with
//     AES-256-GCM under a key kept in a separate file ([ike] users_key_file, mode 0600,
//     created on first use): "aes256gcm$<nonce b64>$<ciphertext+tag b64>".
// The file is written atomically (write, fsync, rename, fsync of the directory).
// Control thread only.

#include "crypto/secret.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

struct User {
    std::string name;                  // login name (EAP identity)
    std::string real_name;
    std::string email;                 // also accepted as the EAP/IKE identity
    std::string password_hash;         // "pbkdf2-sha256$..." (see above)
    std::string nt_hash_sealed;        // "aes256gcm$..." (see above); empty: no MSCHAPv2
    std::optional<uint32_t> static_ip; // host order; must lie outside every pool
    std::vector<std::string> groups;
    bool enabled = true;
};

class UserDb {
public:
    /// Loads `path` (a missing file is an empty database) with the sealing key from
    /// `key_path` (created, mode 0600, when missing). Throws std::invalid_argument
    /// naming the file, the user and the key for a malformed file.
    static UserDb load(const std::string& path, const std::string& key_path);
    UserDb() = default;

    /// The user whose name or e-mail equals `identity` (case-sensitive name,
    /// case-insensitive e-mail); nullptr when unknown.
    const User* find(const std::string& identity) const;
    const std::map<std::string, User>& users() const noexcept { return users_; }

    /// PBKDF2 check in constant time; false for an unknown user.
    bool verify_password(const User& u, const std::string& password) const;
    /// The unsealed NT hash (16 bytes) for MSCHAPv2; nullopt when the user has none or
    /// it does not unseal (wrong key file).
    std::optional<crypto::SecretBytes> nt_hash(const User& u) const;

    /// Adds or replaces a user with a new password (hash and sealed NT hash computed
    /// here); the password string is wiped by the caller. Throws std::invalid_argument
    /// for a bad name, e-mail or static IP.
    void upsert(User u, const std::string& password);
    /// Changes the password; false for an unknown user.
    bool set_password(const std::string& name, const std::string& password);
    bool set_enabled(const std::string& name, bool enabled);
    bool remove(const std::string& name);

    /// Writes the database atomically to the path it was loaded from; false with
    /// `*error` on failure (the old file stays).
    bool save(std::string* error) const;

private:
    std::string path_;
    std::string key_path_;
    std::shared_ptr<crypto::SecretBytes> key_;  // AES-256 sealing key
    std::map<std::string, User> users_;         // by name
};

}  // namespace espgw::ike

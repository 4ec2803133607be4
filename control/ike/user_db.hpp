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
// The file is written atomically (write, fsync, rename, fsync of the directory), mode
// 0600. Its format (config/users.example.toml), one table per user, keys quoted:
//   [users."alice"]
//   real_name = "Alice Example"
//   email = "alice@example.com"
//   password = "pbkdf2-sha256$100000$<salt b64>$<hash b64>"
//   nt_hash = "aes256gcm$<nonce b64>$<ciphertext+tag b64>"   # AAD: the user name
//   static_ip = "10.98.0.5"          # optional
//   groups = ["staff", "vpn-admins"]
//   enabled = true
// The key file holds the 32-byte key as 64 hex digits; it must not be readable by group
// or others. Names and groups: 1-64 of [A-Za-z0-9._-], starting with a letter or digit.
// Control thread only.

#include "control/ike/config.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
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
    /// Every sealed NT hash must unseal with the key (a wrong key file is refused, naming
    /// the user and the key file). With `reuse_key_of` given and the same key_path, its
    /// key is taken instead of re-reading the key file (reload after dropping root).
    static UserDb load(const std::string& path, const std::string& key_path, const UserDb* reuse_key_of = nullptr);
    /// The same checks on file text with a 32-byte key (fuzzing, tests); the result has
    /// no file (save fails). Throws std::invalid_argument like load.
    static UserDb parse(std::string_view text, std::span<const uint8_t> key);
    UserDb() = default;

    const std::string& path() const noexcept { return path_; }
    const std::string& key_path() const noexcept { return key_path_; }
    /// PBKDF2 iterations for hashes made from now on (default kDefaultIterations; the
    /// unit tests lower it). Verification uses the count stored in each hash.
    void set_pbkdf2_iterations(uint32_t n) noexcept { iterations_ = n; }
    static constexpr uint32_t kDefaultIterations = 100000;

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
    /// for a bad name, e-mail, real name, group, password (empty, over 256 characters,
    /// not UTF-8), or a static IP / e-mail another user already has. The caller checks
    /// the static IP against the pools (check_static_ips).
    void upsert(User u, const std::string& password);
    /// Replaces a user's attributes (name, real name, e-mail, static IP, groups,
    /// enabled) keeping its password; false for an unknown user. Throws as upsert.
    bool update(const User& u);
    /// Changes the password; false for an unknown user.
    bool set_password(const std::string& name, const std::string& password);
    bool set_enabled(const std::string& name, bool enabled);
    bool remove(const std::string& name);

    /// Writes the database atomically to the path it was loaded from; false with
    /// `*error` on failure (the old file stays).
    bool save(std::string* error) const;

private:
    void parse_text(std::string_view text);  // into an empty database with path_/key_
    void validate(const User& u) const;
    std::string seal(const std::string& name, std::span<const uint8_t> plain) const;
    std::optional<crypto::SecretBytes> unseal(const std::string& name, const std::string& sealed) const;
    void set_secrets(User& u, const std::string& password) const;

    uint32_t iterations_ = kDefaultIterations;
    std::string path_;
    std::string key_path_;
    std::shared_ptr<crypto::SecretBytes> key_;  // AES-256 sealing key
    std::map<std::string, User> users_;         // by name
};

/// Refuses static IPs inside a pool's range (network to broadcast address): throws
/// std::invalid_argument("user alice: static_ip 10.99.0.7 lies inside pool rw
/// (10.99.0.0/24)").
void check_static_ips(const UserDb& db, const std::map<std::string, PoolConfig>& pools);
/// One user's static IP against the pools: the error text, empty when fine.
std::string static_ip_conflict(uint32_t addr_host, const std::map<std::string, PoolConfig>& pools);

/// The database `cfg` names ([ike] users_file, users_key_file; an empty UserDb when
/// there is none), with its static IPs checked against cfg.pools. `previous` lends its
/// key when the key file is the same (see UserDb::load). Throws std::invalid_argument
/// prefixed "ike.users_file: ".
UserDb load_users(const IkeConfig& cfg, const UserDb* previous = nullptr);

/// Validation shared with espctl's error messages: empty when fine, else why.
std::string check_user_name(const std::string& name);
std::string check_email(const std::string& email);

}  // namespace espgw::ike

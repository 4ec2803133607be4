#include "control/ike/user_db.hpp"

#include "control/common/atomic_file.hpp"
#include "control/ike/address_pool.hpp"
#include "control/ike/ms_crypto.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace espgw::ike {

namespace {

constexpr size_t kSaltLen = 16;
constexpr size_t kHashLen = 32;
constexpr size_t kKeyLen = 32;
constexpr size_t kNonceLen = 12;
constexpr size_t kTagLen = 16;
constexpr uint32_t kMaxIterations = 10'000'000;  // a hostile file must not stall the daemon
constexpr size_t kMaxPasswordChars = 256;        // RFC 2759 §8.3: up to 256 Unicode characters

[[noreturn]] void fail(const std::string& where, const std::string& why) { throw std::invalid_argument(where + ": " + why); }

// --- base64 (RFC 4648 §4, padded; decoding is strict) ---------------------------------

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_encode(std::span<const uint8_t> in) {
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
        out += kB64[v >> 18], out += kB64[v >> 12 & 63], out += kB64[v >> 6 & 63], out += kB64[v & 63];
    }
    if (i + 1 == in.size()) {
        const uint32_t v = uint32_t{in[i]} << 16;
        out += kB64[v >> 18], out += kB64[v >> 12 & 63], out += "==";
    } else if (i + 2 == in.size()) {
        const uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8;
        out += kB64[v >> 18], out += kB64[v >> 12 & 63], out += kB64[v >> 6 & 63], out += '=';
    }
    return out;
}

std::optional<std::vector<uint8_t>> b64_decode(std::string_view s) {
    if (s.size() % 4 != 0) return std::nullopt;
    std::vector<uint8_t> out;
    for (size_t i = 0; i < s.size(); i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t k = 0; k < 4; ++k) {
            const char c = s[i + k];
            int d;
            if (c == '=' && i + 4 == s.size() && k >= 2) {
                d = 0, ++pad;
            } else if (pad != 0) {
                return std::nullopt;
            } else if (const char* p = std::strchr(kB64, c); p != nullptr && c != '\0') {
                d = static_cast<int>(p - kB64);
            } else {
                return std::nullopt;
            }
            v = v << 6 | static_cast<uint32_t>(d);
        }
        out.push_back(static_cast<uint8_t>(v >> 16));
        if (pad < 2) out.push_back(static_cast<uint8_t>(v >> 8));
        if (pad < 1) out.push_back(static_cast<uint8_t>(v));
    }
    return out;
}

std::vector<std::string_view> split_dollar(std::string_view s) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (;;) {
        const size_t d = s.find('$', start);
        parts.push_back(s.substr(start, d == std::string_view::npos ? std::string_view::npos : d - start));
        if (d == std::string_view::npos) break;
        start = d + 1;
    }
    return parts;
}

// --- PBKDF2 -----------------------------------------------------------------------------

struct Pbkdf2Hash {
    uint32_t iterations = 0;
    std::vector<uint8_t> salt;
    std::vector<uint8_t> hash;
};

std::optional<Pbkdf2Hash> parse_pbkdf2(std::string_view s) {
    const auto p = split_dollar(s);
    if (p.size() != 4 || p[0] != "pbkdf2-sha256" || p[1].empty() || p[1].size() > 8) return std::nullopt;
    Pbkdf2Hash h;
    for (char c : p[1]) {
        if (c < '0' || c > '9') return std::nullopt;
        h.iterations = h.iterations * 10 + static_cast<uint32_t>(c - '0');
    }
    auto salt = b64_decode(p[2]);
    auto hash = b64_decode(p[3]);
    if (h.iterations == 0 || h.iterations > kMaxIterations || !salt || salt->size() < 8 || salt->size() > 64 || !hash ||
        hash->size() != kHashLen)
        return std::nullopt;
    h.salt = std::move(*salt);
    h.hash = std::move(*hash);
    return h;
}

void pbkdf2(const std::string& password, std::span<const uint8_t> salt, uint32_t iterations, uint8_t out[kHashLen]) {
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                          static_cast<int>(iterations), EVP_sha256(), kHashLen, out) != 1)
        throw std::runtime_error("PBKDF2 failed");
}

// --- the key file -------------------------------------------------------------------------

crypto::SecretBytes read_or_create_key(const std::string& key_path) {
    struct stat st {};
    if (::stat(key_path.c_str(), &st) != 0) {
        if (errno != ENOENT) fail(key_path, std::strerror(errno));
        crypto::SecretBytes key(kKeyLen);
        if (RAND_bytes(key.mutable_bytes().data(), kKeyLen) != 1) fail(key_path, "RAND_bytes failed");
        std::string hex;
        static const char* d = "0123456789abcdef";
        for (uint8_t b : key.bytes()) hex += d[b >> 4], hex += d[b & 15];
        hex += '\n';
        std::string err;
        const bool ok = write_file_atomic(key_path, hex, 0600, &err);
        crypto::secure_wipe(hex.data(), hex.size());
        if (!ok) fail(key_path, "cannot create the sealing key: " + err);
        return key;
    }
    if (!S_ISREG(st.st_mode)) fail(key_path, "not a regular file");
    if ((st.st_mode & 077) != 0) fail(key_path, "readable or writable by group or others: chmod 600 it");
    std::ifstream in(key_path);
    if (!in) fail(key_path, "cannot open");
    std::string text;
    std::getline(in, text);
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (text.size() != 2 * kKeyLen) {
        crypto::secure_wipe(text.data(), text.size());
        fail(key_path, "expected 64 hex digits (a 32-byte AES-256 key)");
    }
    try {
        auto key = crypto::SecretBytes::from_hex(text);
        crypto::secure_wipe(text.data(), text.size());
        return key;
    } catch (const std::invalid_argument& e) {
        crypto::secure_wipe(text.data(), text.size());
        fail(key_path, e.what());
    }
}

// --- TOML output ------------------------------------------------------------------------

std::string toml_string(std::string_view s) {
    std::string o = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", u);
            o += buf;
        } else {
            o += c;
        }
    }
    return o + "\"";
}

bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string check_token(const std::string& s, const char* what) {
    if (s.empty() || s.size() > 64) return std::string(what) + " must have 1 to 64 characters";
    if (!std::all_of(s.begin(), s.end(), name_char) || !std::isalnum(static_cast<unsigned char>(s[0])))
        return std::string(what) + " may only contain A-Z a-z 0-9 . _ - and must start with a letter or digit";
    return {};
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool valid_utf8_text(const std::string& s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    try {
        (void)utf8_to_utf16le(s);
    } catch (const std::invalid_argument&) {
        return false;
    }
    return true;
}

}  // namespace

std::string check_user_name(const std::string& name) { return check_token(name, "user name"); }

std::string check_email(const std::string& email) {
    if (email.size() > 254) return "e-mail longer than 254 characters";
    const size_t at = email.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == email.size() || email.find('@', at + 1) != std::string::npos)
        return "e-mail must look like local@domain";
    for (char c : email) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || std::strchr("\"(),:;<>[\\]", c) != nullptr)
            return "e-mail may not contain spaces, quotes, control or non-ASCII characters or ()<>[],;:\\";
    }
    const std::string domain = email.substr(at + 1);
    if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string::npos)
        return "e-mail domain is malformed";
    return {};
}

std::string static_ip_conflict(uint32_t addr, const std::map<std::string, PoolConfig>& pools) {
    for (const auto& [name, p] : pools) {
        const AddressPool pool(name, p.cidr);
        // The whole prefix, network and broadcast address included.
        if (addr + 1 >= pool.first() && addr <= pool.last() + 1)
            return "static_ip " + ipv4_to_string(addr) + " lies inside pool " + name + " (" + p.cidr +
                   "): pools hand out their addresses dynamically";
    }
    return {};
}

void check_static_ips(const UserDb& db, const std::map<std::string, PoolConfig>& pools) {
    for (const auto& [name, u] : db.users())
        if (u.static_ip)
            if (auto why = static_ip_conflict(*u.static_ip, pools); !why.empty())
                throw std::invalid_argument("user " + name + ": " + why);
}

UserDb load_users(const IkeConfig& cfg, const UserDb* previous) {
    if (cfg.users_file.empty()) return UserDb{};
    try {
        UserDb db = UserDb::load(cfg.users_file, cfg.users_key_file, previous);
        check_static_ips(db, cfg.pools);
        return db;
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("ike.users_file: ") + e.what());
    }
}

// --- UserDb ---------------------------------------------------------------------------------

UserDb UserDb::load(const std::string& path, const std::string& key_path, const UserDb* reuse_key_of) {
    UserDb db;
    db.path_ = path;
    db.key_path_ = key_path;
    if (reuse_key_of != nullptr && reuse_key_of->key_ && reuse_key_of->key_path_ == key_path)
        db.key_ = reuse_key_of->key_;
    else
        db.key_ = std::make_shared<crypto::SecretBytes>(read_or_create_key(key_path));

    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return db;  // no users yet
        fail(path, std::string("cannot open: ") + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    db.parse_text(ss.str());
    return db;
}

UserDb UserDb::parse(std::string_view text, std::span<const uint8_t> key) {
    if (key.size() != kKeyLen) throw std::invalid_argument("the sealing key must have 32 bytes");
    UserDb db;
    db.path_ = "(text)";
    db.key_path_ = "(key)";
    db.key_ = std::make_shared<crypto::SecretBytes>(key);
    db.parse_text(text);
    db.path_.clear();  // nowhere to save
    return db;
}

void UserDb::parse_text(std::string_view text) {
    UserDb& db = *this;
    const std::string& path = path_;
    const std::string& key_path = key_path_;
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        std::ostringstream os;
        os << e.source().begin;
        fail(path, "TOML syntax error at " + os.str() + ": " + std::string(e.description()));
    }
    for (const auto& [k, v] : root)
        if (k.str() != "users") fail(path, "unknown table \"" + std::string(k.str()) + "\" (expected [users.\"NAME\"])");
    const toml::node* users_node = root.get("users");
    if (users_node == nullptr) return;
    const toml::table* users = users_node->as_table();
    if (users == nullptr) fail(path + ": users", "not a table");
    std::set<std::string> emails;
    std::set<uint32_t> ips;
    for (const auto& [k, v] : *users) {
        User u;
        u.name = std::string(k.str());
        const std::string where = path + ": user " + u.name;
        if (auto why = check_user_name(u.name); !why.empty()) fail(where, why);
        const toml::table* t = v.as_table();
        if (t == nullptr) fail(where, "not a table");
        for (const auto& [fk, fv] : *t) {
            const std::string f(fk.str());
            const std::string fwhere = where + ": " + f;
            if (f == "real_name" || f == "email" || f == "password" || f == "nt_hash" || f == "static_ip") {
                auto s = fv.value<std::string>();
                if (!s) fail(fwhere, "not a string");
                if (f == "real_name") u.real_name = *s;
                if (f == "email") u.email = *s;
                if (f == "password") u.password_hash = *s;
                if (f == "nt_hash") u.nt_hash_sealed = *s;
                if (f == "static_ip") {
                    in_addr a{};
                    if (inet_pton(AF_INET, s->c_str(), &a) != 1) fail(fwhere, "not an IPv4 address");
                    u.static_ip = ntohl(a.s_addr);
                }
            } else if (f == "groups") {
                const toml::array* arr = fv.as_array();
                if (arr == nullptr) fail(fwhere, "not an array of strings");
                for (const auto& g : *arr) {
                    auto s = g.value<std::string>();
                    if (!s) fail(fwhere, "not an array of strings");
                    u.groups.push_back(*s);
                }
            } else if (f == "enabled") {
                auto b = fv.value<bool>();
                if (!b) fail(fwhere, "not true or false");
                u.enabled = *b;
            } else {
                fail(fwhere, "unknown key");
            }
        }
        try {
            db.validate(u);
        } catch (const std::invalid_argument& e) {
            fail(where, e.what());
        }
        if (u.password_hash.empty()) fail(where + ": password", "missing");
        if (!parse_pbkdf2(u.password_hash))
            fail(where + ": password", "not a \"pbkdf2-sha256$<iterations>$<salt>$<hash>\" hash");
        if (!u.nt_hash_sealed.empty() && !db.unseal(u.name, u.nt_hash_sealed))
            fail(where + ": nt_hash", "does not unseal with the key in " + key_path +
                                           " (wrong key file, or the entry was altered or copied from another user)");
        if (!u.email.empty() && !emails.insert(lower(u.email)).second) fail(where + ": email", "used by another user");
        if (u.static_ip && !ips.insert(*u.static_ip).second) fail(where + ": static_ip", "used by another user");
        db.users_.emplace(u.name, std::move(u));
    }
}

const User* UserDb::find(const std::string& identity) const {
    if (auto it = users_.find(identity); it != users_.end()) return &it->second;
    if (identity.find('@') == std::string::npos) return nullptr;
    const std::string want = lower(identity);
    for (const auto& [n, u] : users_)
        if (!u.email.empty() && lower(u.email) == want) return &u;
    return nullptr;
}

bool UserDb::verify_password(const User& u, const std::string& password) const {
    auto it = users_.find(u.name);
    if (it == users_.end()) return false;
    const auto h = parse_pbkdf2(it->second.password_hash);
    if (!h) return false;
    uint8_t out[kHashLen];
    pbkdf2(password, h->salt, h->iterations, out);
    const bool ok = crypto::ct_equal(out, h->hash.data(), kHashLen);
    crypto::secure_wipe(out, sizeof out);
    return ok;
}

std::optional<crypto::SecretBytes> UserDb::nt_hash(const User& u) const {
    if (u.nt_hash_sealed.empty()) return std::nullopt;
    auto nt = unseal(u.name, u.nt_hash_sealed);
    if (!nt || nt->size() != 16) return std::nullopt;
    return nt;
}

std::string UserDb::seal(const std::string& name, std::span<const uint8_t> plain) const {
    if (!key_) throw std::logic_error("user database has no sealing key (not loaded)");
    uint8_t nonce[kNonceLen];
    if (RAND_bytes(nonce, sizeof nonce) != 1) throw std::runtime_error("RAND_bytes failed");
    std::vector<uint8_t> ct(plain.size() + kTagLen);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    const bool ok = c != nullptr && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, kNonceLen, nullptr) == 1 &&
                    EVP_EncryptInit_ex(c, nullptr, nullptr, key_->bytes().data(), nonce) == 1 &&
                    // The user name is authenticated: a sealed hash copied to another user does not open.
                    EVP_EncryptUpdate(c, nullptr, &len, reinterpret_cast<const uint8_t*>(name.data()),
                                      static_cast<int>(name.size())) == 1 &&
                    EVP_EncryptUpdate(c, ct.data(), &len, plain.data(), static_cast<int>(plain.size())) == 1 &&
                    EVP_EncryptFinal_ex(c, ct.data() + len, &fin) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagLen, ct.data() + plain.size()) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) throw std::runtime_error("AES-256-GCM sealing failed");
    return "aes256gcm$" + b64_encode(nonce) + "$" + b64_encode(ct);
}

std::optional<crypto::SecretBytes> UserDb::unseal(const std::string& name, const std::string& sealed) const {
    if (!key_) return std::nullopt;
    const auto p = split_dollar(sealed);
    if (p.size() != 3 || p[0] != "aes256gcm") return std::nullopt;
    const auto nonce = b64_decode(p[1]);
    const auto ct = b64_decode(p[2]);
    if (!nonce || nonce->size() != kNonceLen || !ct || ct->size() <= kTagLen || ct->size() > 1024) return std::nullopt;
    const size_t n = ct->size() - kTagLen;
    crypto::SecretBytes plain(n);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0;
    std::vector<uint8_t> tag(ct->end() - kTagLen, ct->end());
    const bool ok = c != nullptr && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, kNonceLen, nullptr) == 1 &&
                    EVP_DecryptInit_ex(c, nullptr, nullptr, key_->bytes().data(), nonce->data()) == 1 &&
                    EVP_DecryptUpdate(c, nullptr, &len, reinterpret_cast<const uint8_t*>(name.data()),
                                      static_cast<int>(name.size())) == 1 &&
                    EVP_DecryptUpdate(c, plain.mutable_bytes().data(), &len, ct->data(), static_cast<int>(n)) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagLen, tag.data()) == 1 &&
                    EVP_DecryptFinal_ex(c, plain.mutable_bytes().data() + len, &fin) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) return std::nullopt;  // `plain` wipes itself
    return plain;
}

void UserDb::validate(const User& u) const {
    if (auto why = check_user_name(u.name); !why.empty()) throw std::invalid_argument(why);
    if (!u.email.empty())
        if (auto why = check_email(u.email); !why.empty()) throw std::invalid_argument(why);
    if (u.real_name.size() > 128 || !valid_utf8_text(u.real_name))
        throw std::invalid_argument("real name must be UTF-8 text without control characters, at most 128 bytes");
    if (u.groups.size() > 32) throw std::invalid_argument("at most 32 groups");
    for (const auto& g : u.groups)
        if (auto why = check_token(g, "group name"); !why.empty()) throw std::invalid_argument(why);
    if (u.static_ip && (*u.static_ip == 0 || *u.static_ip == 0xffffffffu || (*u.static_ip >> 28) >= 0xe))
        throw std::invalid_argument("static_ip " + ipv4_to_string(*u.static_ip) + " is not a unicast address");
}

void UserDb::set_secrets(User& u, const std::string& password) const {
    if (password.empty()) throw std::invalid_argument("empty password");
    if (!valid_utf8_text(password)) throw std::invalid_argument("password must be UTF-8 text without control characters");
    std::string u16 = utf8_to_utf16le(password);
    const size_t chars = u16.size() / 2;
    crypto::secure_wipe(u16.data(), u16.size());
    if (chars > kMaxPasswordChars) throw std::invalid_argument("password longer than 256 characters (MS-CHAPv2 limit)");
    uint8_t salt[kSaltLen];
    if (RAND_bytes(salt, sizeof salt) != 1) throw std::runtime_error("RAND_bytes failed");
    uint8_t out[kHashLen];
    pbkdf2(password, salt, iterations_, out);
    u.password_hash = "pbkdf2-sha256$" + std::to_string(iterations_) + "$" + b64_encode(salt) + "$" + b64_encode(out);
    crypto::secure_wipe(out, sizeof out);
    const auto nt = nt_password_hash(password);
    u.nt_hash_sealed = seal(u.name, nt.bytes());
}

namespace {
void check_unique(const std::map<std::string, User>& users, const User& u) {
    for (const auto& [n, o] : users) {
        if (n == u.name) continue;
        if (!u.email.empty() && !o.email.empty() && lower(o.email) == lower(u.email))
            throw std::invalid_argument("e-mail " + u.email + " is used by user " + n);
        if (u.static_ip && o.static_ip == u.static_ip)
            throw std::invalid_argument("static_ip " + ipv4_to_string(*u.static_ip) + " is used by user " + n);
        // A name that is another user's e-mail (or the reverse) would make find() ambiguous.
        if (!o.email.empty() && lower(o.email) == lower(u.name))
            throw std::invalid_argument("user name " + u.name + " is the e-mail of user " + n);
    }
}
}  // namespace

void UserDb::upsert(User u, const std::string& password) {
    validate(u);
    check_unique(users_, u);
    set_secrets(u, password);
    users_[u.name] = std::move(u);
}

bool UserDb::update(const User& u) {
    auto it = users_.find(u.name);
    if (it == users_.end()) return false;
    validate(u);
    check_unique(users_, u);
    User next = u;
    next.password_hash = it->second.password_hash;
    next.nt_hash_sealed = it->second.nt_hash_sealed;
    it->second = std::move(next);
    return true;
}

bool UserDb::set_password(const std::string& name, const std::string& password) {
    auto it = users_.find(name);
    if (it == users_.end()) return false;
    User u = it->second;
    set_secrets(u, password);
    it->second = std::move(u);
    return true;
}

bool UserDb::set_enabled(const std::string& name, bool enabled) {
    auto it = users_.find(name);
    if (it == users_.end()) return false;
    it->second.enabled = enabled;
    return true;
}

bool UserDb::remove(const std::string& name) { return users_.erase(name) == 1; }

bool UserDb::save(std::string* error) const {
    if (path_.empty()) {
        if (error) *error = "the user database has no file ([ike] users_file)";
        return false;
    }
    std::string o =
        "# espgw-ike users (issue 6), written by `espctl user ...`: passwords are PBKDF2 hashes, NT hashes are\n"
        "# sealed with the key in " + key_path_ + ".\n# Hand edits take effect with `espctl reload`; an `espctl user` change before that overwrites them.\n";
    for (const auto& [name, u] : users_) {
        o += "\n[users." + toml_string(name) + "]\n";
        if (!u.real_name.empty()) o += "real_name = " + toml_string(u.real_name) + "\n";
        if (!u.email.empty()) o += "email = " + toml_string(u.email) + "\n";
        o += "password = " + toml_string(u.password_hash) + "\n";
        if (!u.nt_hash_sealed.empty()) o += "nt_hash = " + toml_string(u.nt_hash_sealed) + "\n";
        if (u.static_ip) o += "static_ip = " + toml_string(ipv4_to_string(*u.static_ip)) + "\n";
        o += "groups = [";
        for (size_t i = 0; i < u.groups.size(); ++i) o += (i ? ", " : "") + toml_string(u.groups[i]);
        o += "]\n";
        o += std::string("enabled = ") + (u.enabled ? "true" : "false") + "\n";
    }
    return write_file_atomic(path_, o, 0600, error);
}

}  // namespace espgw::ike

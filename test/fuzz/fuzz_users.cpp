// libFuzzer target: the local user database and what reaches it (issue 6, issue 7's
// "every parser that reads a file ... the CLI protocol").
//
// Byte 0 picks the mode:
//   0: the users file parser (UserDb::parse: TOML, every field, PBKDF2 and sealed-hash
//      formats, base64, AES-GCM unsealing with a fixed key);
//   1: one CLI request line through IkeControl::answer with a live two-user database
//      (user add|set|passwd|del|..., percent-decoding, reload is not reached: the line
//      is prefixed "user "); saves go to a private temporary directory;
//   2: the UTF-8 to UTF-16LE conversion and NtPasswordHash over arbitrary bytes.
// The espgw-ike configuration parser is fuzzed by fuzz_ike (mode 2).
// Anything may be refused; nothing may crash, leak or trip UBSan.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "control/ike/config.hpp"
#include "control/ike/control_commands.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/log.hpp"
#include "control/ike/ms_crypto.hpp"
#include "control/ike/user_db.hpp"

namespace {

using namespace espgw::ike;

const uint8_t kKey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

struct NullTransport final : Transport {
    void send(const Endpoint&, const Endpoint&, std::span<const uint8_t>) override {}
    void send_nat_keepalive(const Endpoint&, const Endpoint&) override {}
};

struct NullSink final : SaSink {
    bool install(const ChildSaInfo&, const ChildSaKeys&) override { return true; }
    void remove(uint32_t, uint32_t) override {}
};

/// The CLI side: a manager, its control, and a user database whose file lives in a
/// private directory. `base` is copied into `live` before every request.
struct Cli {
    std::string dir;
    IkeConfig cfg;
    NullTransport transport;
    NullSink sink;
    std::unique_ptr<IkeManager> manager;
    std::unique_ptr<IkeControl> control;
    UserDb base;
    UserDb live;
    Cli() {
        char tmpl[] = "/tmp/espgw-fuzz-users-XXXXXX";
        dir = mkdtemp(tmpl);
        cfg = parse_config(std::string(R"(
[ike]
listen = "10.77.0.1"
users_file = ")") + dir + R"(/users.toml"
[pools.rw]
cidr = "10.99.0.0/24"
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "fuzz-target-psk-0123456789"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
)");
        manager = std::make_unique<IkeManager>(cfg, transport, sink);
        control = std::make_unique<IkeControl>(cfg, *manager, dir + "/ike.toml");
        base = load_users(cfg);
        base.set_pbkdf2_iterations(1);  // the fuzzer wants executions, not key stretching
        User a;
        a.name = "alice";
        a.email = "alice@example.com";
        a.static_ip = 0x0a620005;
        a.groups = {"staff"};
        base.upsert(a, "alice-password");
        User b;
        b.name = "bob";
        b.enabled = false;
        base.upsert(b, "bob-password");
        control->set_users(&live);
    }
    ~Cli() { std::filesystem::remove_all(dir); }  // libFuzzer exits through exit()
};

Cli& cli() {
    static Cli c;
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log_set_enabled(false);
    ms_crypto_init();
    (void)cli();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 3) {
        case 0:
            try {
                const UserDb db = UserDb::parse(in, kKey);
                for (const auto& [name, u] : db.users()) {
                    (void)db.find(u.email.empty() ? name : u.email);
                    (void)db.nt_hash(u);
                }
            } catch (const std::exception&) {
                // refused with a message: what the parser must do with bad input
            }
            break;
        case 1: {
            Cli& c = cli();
            c.live = c.base;
            if (in.size() > 4096 || in.find('\n') != std::string_view::npos) break;
            (void)c.control->answer("user " + std::string(in));
            break;
        }
        default:
            try {
                (void)nt_password_hash(in);
            } catch (const std::invalid_argument&) {
                // malformed UTF-8
            }
            break;
    }
    return 0;
}

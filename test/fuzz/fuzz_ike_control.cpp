// libFuzzer target: espgw-ike's CLI protocol (issue 7: "the CLI protocol"): the
// request framing of the control socket (control_server.cpp: line break, CR, EOF
// without a line break, the request size limit) and every command behind it
// (IkeControl::answer: conn, ike sa, show ike counters|radius, pool, users, reload,
// user ...). Each input gets a fresh gateway (the configuration below, a two-user
// database; reload re-reads the same configuration from a private directory).
//
// Byte 0:
//   bit 0 set:   the rest is written to a real ControlServer socket as one client's
//                bytes (then shutdown), and the answer read back;
//                bit 0 clear: the rest is split at '\n' into up to 8 request lines
//                answered one after the other by IkeControl::answer;
//   bit 1 set:   first an IKE SA with a CHILD_SA is established (site-to-site, PSK)
//                from an in-process initiator, so that ike sa list|delete, conn down,
//                pool list and show users find something.
// Every answer must be JSON without a raw control character. Anything may be refused;
// nothing may crash, leak or trip UBSan.

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "control/ike/config.hpp"
#include "control/ike/control_commands.hpp"
#include "control/ike/control_server.hpp"
#include "control/ike/log.hpp"
#include "control/ike/ms_crypto.hpp"
#include "control/ike/user_db.hpp"
#include "ike_fixture.hpp"

namespace {

using namespace espgw::ike;
using namespace fuzz_ike;

std::string gw_conf(const std::string& dir) {
    return R"([ike]
listen = "10.77.0.1"
users_file = ")" +
           dir + R"(/users.toml"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53"]
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "fuzz-target-psk-0123456789"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
[[connections]]
name = "s2s"
local_id = "gw.example.com"
remote_id = "peer.example.com"
remote_addr = "10.77.0.2"
psk = "site-to-site-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.2.0.0/24"]
remote_ts = ["10.1.0.0/24"]
)";
}

const char* kPeerConf = R"([ike]
listen = "10.77.0.2"
[[connections]]
name = "s2s"
local_id = "peer.example.com"
remote_id = "gw.example.com"
remote_addr = "10.77.0.1"
psk = "site-to-site-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
)";

/// Built once: the private directory (configuration file, users file, socket), the
/// parsed configurations and the user database every input starts from.
struct Base {
    std::string dir;
    std::string conf_path;
    IkeConfig gw, peer;
    UserDb users;
    Base() {
        char tmpl[] = "/tmp/espgw-fuzz-ctl-XXXXXX";
        dir = mkdtemp(tmpl);
        conf_path = dir + "/espgw-ike.toml";
        std::ofstream(conf_path) << gw_conf(dir);
        gw = parse_config(gw_conf(dir));
        peer = parse_config(kPeerConf);
        users = load_users(gw);          // creates the key file beside users.toml
        users.set_pbkdf2_iterations(1);  // executions, not key stretching
        User a;
        a.name = "alice";
        a.email = "alice@example.com";
        a.static_ip = 0x0a630005;
        a.groups = {"staff"};
        users.upsert(a, "alice-password");
        User b;
        b.name = "bob";
        b.enabled = false;
        users.upsert(b, "bob-password");
        save_users();
    }
    /// reload re-reads the users file: each input starts from the same one.
    void save_users() const {
        std::string err;
        if (!users.save(&err)) std::abort();
    }
    ~Base() { std::filesystem::remove_all(dir); }  // libFuzzer exits through exit()
};

Base& base() {
    static Base b;
    return b;
}

/// One input's gateway.
struct Gateway {
    IkeConfig cfg = base().gw;
    UserDb users = base().users;
    CaptureTransport tx;
    AcceptSink sink;
    IkeManager manager{cfg, tx, sink};
    IkeControl control{cfg, manager, base().conf_path};
    Gateway() {
        manager.set_users(&users);
        control.set_users(&users);
    }
    void establish() {
        IkeConfig pcfg = base().peer;
        CaptureTransport ptx;
        AcceptSink psink;
        IkeManager peer(pcfg, ptx, psink);
        if (!peer.initiate("s2s")) std::abort();
        size_t seen_p = 0, seen_g = tx.sent.size();
        pump(peer, ptx, seen_p, manager, tx, seen_g);
        if (manager.ike_sa_count() != 1) std::abort();  // the fixture itself must work
    }
};

/// The socket side: one server for the whole run; `current` answers for it.
struct Server {
    Gateway* current = nullptr;
    std::unique_ptr<ControlServer> srv;
    Server() {
        const group* g = getgrgid(getegid());
        srv = std::make_unique<ControlServer>(
            base().dir + "/ctl.sock", g ? g->gr_name : "root",
            [this](std::string_view line) { return current->control.answer(line); });
    }
};

Server& server() {
    static Server s;
    return s;
}

void through_socket(Gateway& gw, std::string_view in) {
    Server& s = server();
    s.current = &gw;
    const int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, s.srv->path().c_str(), sizeof sa.sun_path - 1);
    if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) std::abort();
    // Written while the server reads, so requests larger than the socket buffer get
    // through (the server stops reading past its limit: then the rest is not sent).
    size_t off = 0;
    std::string answer;
    char buf[4096];
    for (int round = 0; round < 200; ++round) {
        if (off < in.size()) {
            const ssize_t n =
                send(c, in.data() + off, in.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) off += static_cast<size_t>(n);
            if (off == in.size()) shutdown(c, SHUT_WR);
        } else if (round == 0) {
            shutdown(c, SHUT_WR);
        }
        s.srv->poll_once();
        const ssize_t n = recv(c, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) answer.append(buf, static_cast<size_t>(n));
        if (n == 0) break;  // answered and closed (or dropped without a request)
    }
    close(c);
    s.srv->poll_once();  // the server closes its side
    s.current = nullptr;
    if (!answer.empty()) {
        if (answer.back() != '\n') std::abort();
        answer.pop_back();
        check_answer(answer);
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log_set_enabled(false);
    ms_crypto_init();
    (void)base();
    (void)server();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    Gateway gw;
    if (data[0] & 2) gw.establish();
    if (data[0] & 1) {
        through_socket(gw, in);
        if (in.find("user") != std::string_view::npos) base().save_users();
        return 0;
    }
    size_t at = 0;
    for (int i = 0; i < 8 && at <= in.size(); ++i) {
        size_t nl = in.find('\n', at);
        if (nl == std::string_view::npos) nl = in.size();
        check_answer(gw.control.answer(in.substr(at, nl - at)));
        at = nl + 1;
    }
    if (in.find("user") != std::string_view::npos)
        base().save_users();  // a user command may have saved
    return 0;
}

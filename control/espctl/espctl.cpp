// espctl: the command-line client of the espgw daemons' unix control sockets.
//
//   espctl [--socket PATH] [--ike-socket PATH] [--json] [--timeout MS] COMMAND...
//
// Commands go to espgw-dp's control socket (dataplane/dp/stats.hpp documents the
// protocol: one request line, one JSON answer), except those of the IKE daemon
// (`conn`, `ike`, `users`, `user`, `pool`, `reload`, `show ike ...`, `show users`), which go to espgw-ike's
// socket (control/ike/control_commands.hpp documents them). Without --json
// the answer is printed as a table; with --json it is printed as received.
//
// Exit codes: 0 success; 1 the daemon refused (its message on stderr); 2 usage error,
// unknown command or a request the daemon called malformed (it names the key);
// 3 the daemon is not running / not reachable.
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* kDefaultDpSocket = "/run/espgw-dp.sock";
constexpr const char* kDefaultIkeSocket = "/run/espgw-ike.sock";

constexpr const char* kUsage = R"(usage: espctl [--socket PATH] [--ike-socket PATH] [--json] [--timeout MS] COMMAND...

espgw-dp (--socket, default /run/espgw-dp.sock):
  show counters|ports|workers|drops|sa|policies|routes|neighbors
  sa add KEY=VALUE...       keys of a config [[sa]]: id spi direction suite keymat
                            tunnel_src tunnel_dst mode esn udp_encap replay_window
                            soft_bytes hard_bytes soft_packets hard_packets ...
  sa del ID | sa list
  policy add KEY=VALUE...   keys of a [[policy]]: priority src dst proto src_port
                            dst_port action sa
  policy del ID | policy list
  route add prefix=P port=NAME [via=ADDR] | route del PREFIX | route list
  show nat                  masquerade sessions and counters per worker and rule
  show rules                firewall rules with packets, bytes, last hit
  rules load PATH           swap in the [firewall] of a TOML file (refused: old set stays)
  nat flush                 drop every masquerade session
espgw-ike (--ike-socket, default /run/espgw-ike.sock):
  conn list                 configured connections
  conn up NAME              initiate the site-to-site connection NAME
  conn down NAME            delete (with an IKE Delete) every IKE SA of NAME
  ike sa list               IKE SAs: peer, identity, state, algorithms, virtual IP,
                            CHILD_SAs with SPIs and dataplane counters (never keys)
  ike sa delete SPI|PEER    delete one IKE SA (hex SPI) or those of a peer address
  show ike counters         IKE message counters
  show ike radius           RADIUS servers (no secrets), request/drop/failover counters,
                            accounting sessions and records
  pool list                 virtual-IP leases
  show users                identity, EAP user and method, virtual IP, outer address, NAT, seconds up
  reload                    re-read the configuration and the user database (a broken
                            one is refused)
  user list | user show NAME           local users (never password hashes)
  user add NAME [--real-name TEXT] [--email ADDR] [--static-ip A.B.C.D] [--groups a,b]
                [--disabled] [--password-stdin]
  user set NAME [--real-name TEXT] [--email ADDR] [--static-ip A.B.C.D|none]
                [--groups a,b] [--enabled|--disabled]
  user passwd NAME [--password-stdin]  new password
  user del|enable|disable NAME
                            changes apply at once and are saved atomically; the
                            password is prompted on the terminal (not echoed) or read
                            as one line from stdin with --password-stdin, never taken
                            from the command line
options:
  --json      print the daemon's JSON answer unchanged (for scripts)
  --timeout   milliseconds to wait for the answer (default 5000)
exit codes: 0 ok, 1 refused by the daemon, 2 usage/bad request, 3 daemon not reachable
)";

// ---- a small JSON reader (the daemons' answers only) ----

struct Json {
    enum Kind { null, boolean, number, string, array, object } kind = null;
    std::string text;                                   ///< number (as written), string, boolean
    std::vector<Json> items;                            ///< array
    std::vector<std::pair<std::string, Json>> members;  ///< object, in order

    const Json* get(std::string_view k) const {
        for (auto& [n, v] : members)
            if (n == k) return &v;
        return nullptr;
    }
    bool scalar() const { return kind != array && kind != object; }
};

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}
    bool parse(Json& out) {
        if (!value(out)) return false;
        ws();
        return i_ == s_.size();
    }

private:
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
    }
    bool lit(std::string_view w) {
        if (s_.substr(i_, w.size()) != w) return false;
        i_ += w.size();
        return true;
    }
    bool str(std::string& o) {
        if (i_ >= s_.size() || s_[i_] != '"') return false;
        ++i_;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c != '\\') {
                o += c;
                continue;
            }
            if (i_ >= s_.size()) return false;
            char e = s_[i_++];
            switch (e) {
            case 'n': o += '\n'; break;
            case 't': o += '\t'; break;
            case 'r': o += '\r'; break;
            case 'b': o += '\b'; break;
            case 'f': o += '\f'; break;
            case 'u': {
                if (i_ + 4 > s_.size()) return false;
                unsigned v = static_cast<unsigned>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
                i_ += 4;
                o += v < 0x80 ? static_cast<char>(v) : '?';
                break;
            }
            default: o += e;
            }
        }
        if (i_ >= s_.size()) return false;
        ++i_;
        return true;
    }
    bool value(Json& v) {
        ws();
        if (i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '{') {
            v.kind = Json::object;
            ++i_;
            ws();
            if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
            for (;;) {
                ws();
                std::string k;
                if (!str(k)) return false;
                ws();
                if (i_ >= s_.size() || s_[i_++] != ':') return false;
                Json m;
                if (!value(m)) return false;
                v.members.emplace_back(std::move(k), std::move(m));
                ws();
                if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
                if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
                return false;
            }
        }
        if (c == '[') {
            v.kind = Json::array;
            ++i_;
            ws();
            if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
            for (;;) {
                Json m;
                if (!value(m)) return false;
                v.items.push_back(std::move(m));
                ws();
                if (i_ < s_.size() && s_[i_] == ',') { ++i_; continue; }
                if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
                return false;
            }
        }
        if (c == '"') {
            v.kind = Json::string;
            return str(v.text);
        }
        if (lit("true")) return v.kind = Json::boolean, v.text = "true", true;
        if (lit("false")) return v.kind = Json::boolean, v.text = "false", true;
        if (lit("null")) return v.kind = Json::null, true;
        size_t b = i_;
        while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr("+-.eE", s_[i_])))
            ++i_;
        if (i_ == b) return false;
        v.kind = Json::number;
        v.text = std::string(s_.substr(b, i_ - b));
        return true;
    }
    std::string_view s_;
    size_t i_ = 0;
};

// ---- printing ----

std::string cell(const Json& v) {
    switch (v.kind) {
    case Json::null: return "-";
    case Json::array: return fmt::format("[{}]", v.items.size());
    case Json::object: {
        // Counter groups (drops, life): only the non-zero members.
        std::string s;
        for (auto& [k, m] : v.members) {
            if (!m.scalar() || m.text == "0" || m.text == "false") continue;
            s += fmt::format("{}{}={}", s.empty() ? "" : " ", k, m.text);
        }
        return s.empty() ? "-" : s;
    }
    default: return v.text;
    }
}

void print_table(const Json& arr) {
    if (arr.items.empty()) {
        fmt::print("(none)\n");
        return;
    }
    std::vector<std::string> cols;
    for (auto& [k, v] : arr.items[0].members)
        if (v.kind != Json::array) cols.push_back(k);
    std::vector<std::vector<std::string>> rows;
    std::vector<size_t> width(cols.size());
    for (size_t c = 0; c < cols.size(); ++c) width[c] = cols[c].size();
    for (auto& it : arr.items) {
        std::vector<std::string> r;
        for (size_t c = 0; c < cols.size(); ++c) {
            const Json* v = it.get(cols[c]);
            if (v && cols[c] == "spi" && v->kind == Json::number)
                r.push_back(fmt::format("{:#010x}", std::stoull(v->text)));  // SPIs are read in hex
            else
                r.push_back(v ? cell(*v) : "-");
            width[c] = std::max(width[c], r.back().size());
        }
        rows.push_back(std::move(r));
    }
    std::string line;
    for (size_t c = 0; c < cols.size(); ++c) {
        std::string h = cols[c];
        for (auto& ch : h) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        line += fmt::format("{:<{}}  ", h, width[c]);
    }
    fmt::print("{}\n", line.substr(0, line.find_last_not_of(' ') + 1));
    for (auto& r : rows) {
        line.clear();
        for (size_t c = 0; c < cols.size(); ++c) line += fmt::format("{:<{}}  ", r[c], width[c]);
        fmt::print("{}\n", line.substr(0, line.find_last_not_of(' ') + 1));
    }
}

void print_object(const Json& o, bool only_nonzero) {
    for (auto& [k, v] : o.members) {
        if (v.kind == Json::array) {
            fmt::print("\n{}:\n", k);
            print_table(v);
        } else if (v.kind == Json::object) {
            fmt::print("\n{}:\n", k);
            print_object(v, true);
        } else if (!only_nonzero || (v.text != "0" && v.text != "false")) {
            fmt::print("  {:<28} {}\n", k, v.text.empty() && v.kind == Json::null ? "-" : v.text);
        }
    }
}

void print_human(const Json& j) {
    if (j.kind == Json::array) return print_table(j);
    if (j.kind != Json::object) return (void)fmt::print("{}\n", j.text);
    if (const Json* ok = j.get("ok"); ok && ok->text == "true") {
        std::string s = "ok";
        for (auto& [k, v] : j.members)
            if (k != "ok") s += fmt::format(" {}={}", k, cell(v));
        fmt::print("{}\n", s);
        return;
    }
    print_object(j, false);
}

// ---- transport ----

enum class Io { ok, unreachable, failed };

Io exchange(const std::string& path, const std::string& request, int timeout_ms, std::string& answer, std::string& err) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        err = "socket path too long";
        return Io::failed;
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = std::strerror(errno);
        return Io::failed;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        int e = errno;
        close(fd);
        err = fmt::format("{}: {}", path, std::strerror(e));
        return e == EACCES || e == EPERM ? Io::failed : Io::unreachable;
    }
    std::string line = request + "\n";
    size_t off = 0;
    while (off < line.size()) {
        ssize_t n = write(fd, line.data() + off, line.size() - off);
        if (n <= 0) {
            err = fmt::format("{}: write: {}", path, std::strerror(errno));
            close(fd);
            explicit_bzero(line.data(), line.size());
            return Io::failed;
        }
        off += static_cast<size_t>(n);
    }
    explicit_bzero(line.data(), line.size());  // may hold key material (sa add)
    shutdown(fd, SHUT_WR);
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r <= 0) {
            err = fmt::format("{}: no answer within {} ms", path, timeout_ms);
            close(fd);
            return Io::failed;
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            err = fmt::format("{}: read: {}", path, std::strerror(errno));
            close(fd);
            return Io::failed;
        }
        if (n == 0) break;
        answer.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return Io::ok;
}

bool is_ike_command(const std::vector<std::string>& w) {
    const std::string& c = w[0];
    if (c == "show") return w.size() > 1 && (w[1] == "ike" || w[1] == "users");
    return c == "conn" || c == "ike" || c == "users" || c == "user" || c == "pool" || c == "reload";
}

// ---- `user ...`: options to the daemon's KEY=VALUE form, and the password ----

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3) and "@,", so
/// spaces and any UTF-8 survive the daemon's one-line, blank-separated protocol.
std::string pct_encode(std::string_view s) {
    std::string o;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || std::strchr("-._~@,", c) != nullptr)
            o += c;
        else
            o += fmt::format("%{:02X}", u);
    }
    return o;
}

termios g_saved_tty;
volatile sig_atomic_t g_tty_saved = 0;

void restore_tty(int sig) {
    if (g_tty_saved) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
    signal(sig, SIG_DFL);
    raise(sig);
}

/// One line from the terminal with echo off; false on EOF.
bool prompt_hidden(const char* prompt, std::string& out) {
    fmt::print(stderr, "{}", prompt);
    std::fflush(stderr);
    termios t{};
    tcgetattr(STDIN_FILENO, &g_saved_tty);
    t = g_saved_tty;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    t.c_lflag |= ECHONL;
    g_tty_saved = 1;
    signal(SIGINT, restore_tty);
    signal(SIGTERM, restore_tty);
    signal(SIGHUP, restore_tty);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
    const bool ok = static_cast<bool>(std::getline(std::cin, out));
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
    g_tty_saved = 0;
    return ok;
}

/// Builds the request of a `user` command from its words (options as documented in the
/// usage). Returns 0, or the exit code after printing the error. `request` may hold the
/// (encoded) password: the caller wipes it.
int user_request(const std::vector<std::string>& w, std::string& request) {
    auto usage = [](const std::string& why) {
        fmt::print(stderr, "espctl: {}; see espctl --help\n", why);
        return 2;
    };
    if (w.size() < 2) return usage("user needs a subcommand (list show add set passwd del enable disable)");
    const std::string& verb = w[1];
    if (verb == "list") {
        if (w.size() != 2) return usage("user list takes no argument");
        request = "user list";
        return 0;
    }
    static const std::vector<std::string> verbs = {"show", "add", "set", "passwd", "del", "enable", "disable"};
    if (std::find(verbs.begin(), verbs.end(), verb) == verbs.end())
        return usage(fmt::format("unknown command \"user {}\"", verb.substr(0, 32)));
    if (w.size() < 3 || w[2].starts_with("-")) return usage(fmt::format("user {} needs a user name", verb));
    const std::string& name = w[2];
    const bool attrs = verb == "add" || verb == "set";
    const bool wants_password = verb == "add" || verb == "passwd";
    bool password_stdin = false;
    std::vector<std::pair<std::string, std::string>> kv;
    for (size_t i = 3; i < w.size(); ++i) {
        std::string opt = w[i];
        std::string val;
        bool has_val = false;
        if (auto eq = opt.find('='); opt.starts_with("--") && eq != std::string::npos) {
            val = opt.substr(eq + 1);
            opt = opt.substr(0, eq);
            has_val = true;
        }
        auto value = [&]() -> bool {
            if (has_val) return true;
            if (i + 1 >= w.size()) return false;
            val = w[++i];
            return true;
        };
        if (opt == "--password" || (opt.starts_with("--pass") && opt != "--password-stdin"))
            return usage("passwords are never taken from the command line: use --password-stdin or the prompt");
        if (opt == "--password-stdin" && wants_password && !has_val) {
            password_stdin = true;
        } else if (attrs && (opt == "--real-name" || opt == "--email" || opt == "--static-ip" || opt == "--groups")) {
            if (!value()) return usage(fmt::format("{} needs a value", opt));
            if (opt == "--static-ip" && !(verb == "set" && val == "none")) {
                in_addr a{};
                if (inet_pton(AF_INET, val.c_str(), &a) != 1)
                    return usage(fmt::format("--static-ip: \"{}\" is not an IPv4 address", val.substr(0, 64)));
            }
            std::string key = opt.substr(2);
            std::replace(key.begin(), key.end(), '-', '_');
            kv.emplace_back(key, val);
        } else if (attrs && opt == "--disabled" && !has_val) {
            kv.emplace_back("enabled", "0");
        } else if (verb == "set" && opt == "--enabled" && !has_val) {
            kv.emplace_back("enabled", "1");
        } else {
            return usage(fmt::format("user {}: unexpected argument \"{}\"", verb, opt.substr(0, 32)));
        }
    }
    request = "user " + verb + " " + pct_encode(name);
    for (auto& [k, v] : kv) request += " " + k + "=" + pct_encode(v);
    if (!wants_password) return 0;
    std::string pw;
    if (password_stdin) {
        // One line: the password (a trailing CR/LF is not part of it).
        std::getline(std::cin, pw);
        if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    } else if (isatty(STDIN_FILENO)) {
        std::string again;
        const std::string p1 = fmt::format("Password for {}: ", name);
        if (!prompt_hidden(p1.c_str(), pw) || !prompt_hidden("Retype password: ", again)) {
            explicit_bzero(pw.data(), pw.size());
            return usage("no password entered");
        }
        const bool same = pw == again;
        explicit_bzero(again.data(), again.size());
        if (!same) {
            explicit_bzero(pw.data(), pw.size());
            fmt::print(stderr, "espctl: the passwords do not match\n");
            return 2;
        }
    } else {
        return usage(fmt::format("user {} needs a password: --password-stdin, or run it on a terminal", verb));
    }
    if (pw.empty()) return usage("empty password");
    std::string enc = pct_encode(pw);
    explicit_bzero(pw.data(), pw.size());
    request += " password=" + enc;
    explicit_bzero(enc.data(), enc.size());
    return 0;
}

/// Local check of the dataplane command shapes (the daemon checks again).
bool known_dp_command(const std::vector<std::string>& w) {
    static const std::map<std::string, std::vector<std::string>> verbs = {
        {"show", {"counters", "stats", "ports", "workers", "drops", "sa", "policies", "routes", "neighbors", "nat",
                  "rules"}},
        {"nat", {"flush"}},
        {"rules", {"load"}},
        {"sa", {"add", "del", "list"}},
        {"policy", {"add", "del", "list"}},
        {"route", {"add", "del", "list"}},
    };
    if (w.size() < 2) return false;
    auto it = verbs.find(w[0]);
    if (it == verbs.end()) return false;
    for (auto& s : it->second)
        if (s == w[1]) return true;
    return false;
}

int run(int argc, char** argv) {
    std::string dp_socket = kDefaultDpSocket, ike_socket = kDefaultIkeSocket;
    bool json = false;
    int timeout_ms = 5000;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* name) -> std::string {
            if (auto eq = a.find('='); eq != std::string::npos) return a.substr(eq + 1);
            if (i + 1 >= argc) {
                fmt::print(stderr, "espctl: {} needs a value\n", name);
                std::exit(2);
            }
            return argv[++i];
        };
        if (!words.empty()) {
            words.push_back(a);  // everything after the command belongs to it
        } else if (a == "--json" || a == "-j") {
            json = true;
        } else if (a == "--socket" || a.starts_with("--socket=") || a == "-s") {
            dp_socket = value("--socket");
        } else if (a == "--ike-socket" || a.starts_with("--ike-socket=")) {
            ike_socket = value("--ike-socket");
        } else if (a == "--timeout" || a.starts_with("--timeout=")) {
            try {
                timeout_ms = std::stoi(value("--timeout"));
            } catch (const std::exception&) {
                timeout_ms = -1;
            }
            if (timeout_ms <= 0) {
                fmt::print(stderr, "espctl: --timeout needs a positive number of milliseconds\n");
                return 2;
            }
        } else if (a == "--help" || a == "-h" || a == "help") {
            fmt::print("{}", kUsage);
            return 0;
        } else if (a.starts_with("-")) {
            fmt::print(stderr, "espctl: unknown option {}\n{}", a, kUsage);
            return 2;
        } else {
            words.push_back(a);
        }
    }
    if (words.empty()) {
        fmt::print(stderr, "{}", kUsage);
        return 2;
    }
    for (auto& w : words)
        if (w.find_first_of("\n\r") != std::string::npos) {
            fmt::print(stderr, "espctl: arguments must not contain line breaks\n");
            return 2;
        }
    const bool ike = is_ike_command(words);
    std::string request;
    const bool user_cmd = words[0] == "user";
    if (user_cmd) {
        if (const int rc = user_request(words, request); rc != 0) return rc;
    }
    if (!ike && !known_dp_command(words)) {
        // Never echo the arguments: they may hold key material.
        fmt::print(stderr, "espctl: unknown command \"{}{}\"; see espctl --help\n", words[0],
                   words.size() > 1 && words[0] != "sa" ? " " + words[1] : "");
        return 2;
    }
    // The daemon opens `rules load` files itself, from its own working directory.
    if (words.size() == 3 && words[0] == "rules" && words[1] == "load" && words[2].front() != '/') {
        char* abs = realpath(words[2].c_str(), nullptr);
        if (abs) {
            words[2] = abs;
            std::free(abs);
        }
    }
    for (auto& w : words) {
        if (user_cmd) break;
        request += request.empty() ? "" : " ";
        request += w;
        explicit_bzero(w.data(), w.size());
    }
    std::string answer, err;
    Io io = exchange(ike ? ike_socket : dp_socket, request, timeout_ms, answer, err);
    explicit_bzero(request.data(), request.size());
    if (io == Io::unreachable) {
        if (ike)
            fmt::print(stderr, "espctl: espgw-ike not reachable ({})\n", err);
        else
            fmt::print(stderr, "espctl: espgw-dp not running or not reachable ({})\n", err);
        return 3;
    }
    if (io == Io::failed) {
        fmt::print(stderr, "espctl: {}\n", err);
        return 1;
    }
    Json j;
    if (!Parser(answer).parse(j)) {
        fmt::print(stderr, "espctl: the daemon's answer is not JSON\n");
        return 1;
    }
    int rc = 0;
    if (j.kind == Json::object) {
        if (const Json* e = j.get("error")) {
            const Json* code = j.get("code");
            const std::string c = code ? code->text : "";
            fmt::print(stderr, "espctl: {}: {}\n", c == "refused" ? "refused" : "error", e->text);
            rc = c == "refused" ? 1 : 2;
            if (json) fmt::print("{}", answer);
            return rc;
        }
    }
    if (json)
        fmt::print("{}", answer);
    else
        print_human(j);
    return rc;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }

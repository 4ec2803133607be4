// espctl: the command-line client of the espgw daemons' unix control sockets.
//
//   espctl [--socket PATH] [--ike-socket PATH] [--json] [--timeout MS] COMMAND...
//
// Commands go to espgw-dp's control socket (dataplane/dp/stats.hpp documents the
// protocol: one request line, one JSON answer), except those of the IKE daemon
// (`conn`, `ike`, `users`, `pool`, `reload`, `show ike ...`, `show users`), which go to espgw-ike's
// socket (control/ike/control_commands.hpp documents them). Without --json
// the answer is printed as a table; with --json it is printed as received.
//
// Exit codes: 0 success; 1 the daemon refused (its message on stderr); 2 usage error,
// unknown command or a request the daemon called malformed (it names the key);
// 3 the daemon is not running / not reachable.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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
  pool list                 virtual-IP leases
  show users                identity, virtual IP, outer address, NAT, seconds up
  reload                    re-read the configuration (a broken one is refused)
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
    return c == "conn" || c == "ike" || c == "users" || c == "pool" || c == "reload";
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
    std::string request;
    for (auto& w : words) {
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

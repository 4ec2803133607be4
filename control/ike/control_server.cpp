#include "control/ike/control_server.hpp"

#include "crypto/secret.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace espgw::ike {

namespace {
long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
constexpr size_t kMaxRequest = 64 * 1024;
}  // namespace

ControlServer::ControlServer(std::string path, const std::string& group, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof sa.sun_path) throw std::runtime_error("control socket path too long");
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    struct group gbuf {};
    struct group* g = nullptr;
    std::vector<char> tmp(16384);
    if (getgrnam_r(group.c_str(), &gbuf, tmp.data(), tmp.size(), &g) != 0 || g == nullptr)
        throw std::runtime_error(fmt::format("ike.control_group: no group named \"{}\"", group));
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw std::runtime_error(fmt::format("control socket: {}", std::strerror(errno)));
    unlink(path_.c_str());
    const mode_t old = umask(0117);  // never world-accessible, not even between bind and chmod
    const bool bound = bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    umask(old);
    if (!bound || listen(fd_, 16) != 0 || chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 ||
        chmod(path_.c_str(), 0660) != 0) {
        const int e = errno;
        close(fd_);
        fd_ = -1;
        unlink(path_.c_str());
        throw std::runtime_error(fmt::format("control socket {}: {}", path_, std::strerror(e)));
    }
}

ControlServer::~ControlServer() {
    for (auto& c : clients_) close(c.fd);
    if (fd_ >= 0) {
        close(fd_);
        unlink(path_.c_str());
    }
}

void ControlServer::poll_once() {
    const long long now = now_ms();
    for (;;) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        clients_.push_back({c, {}, {}, 0, now + 2000});
    }
    for (auto& c : clients_) {
        if (c.out.empty()) {
            char buf[4096];
            bool eof = false;
            for (;;) {
                const ssize_t n = read(c.fd, buf, sizeof buf);
                if (n > 0) {
                    c.in.append(buf, static_cast<size_t>(n));
                    if (c.in.size() > kMaxRequest) break;
                    continue;
                }
                if (n == 0) eof = true;
                break;
            }
            const size_t nl = c.in.find('\n');
            if (c.in.size() > kMaxRequest) {
                c.out = "{\"error\":\"request too long\",\"code\":\"bad_request\"}\n";
            } else if (nl != std::string::npos || (eof && !c.in.empty())) {
                std::string line = c.in.substr(0, nl);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                c.out = handler_(line) + "\n";
                // `user add|passwd` requests carry a password.
                crypto::secure_wipe(line.data(), line.size());
                crypto::secure_wipe(c.in.data(), c.in.size());
            } else if (eof) {
                c.deadline_ms = 0;  // closed without a request
            }
        }
        while (!c.out.empty() && c.sent < c.out.size()) {
            const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                c.deadline_ms = 0;  // peer went away
                break;
            }
            c.sent += static_cast<size_t>(n);
        }
    }
    std::erase_if(clients_, [&](Client& c) {
        const bool done = (!c.out.empty() && c.sent >= c.out.size()) || now > c.deadline_ms;
        if (done) close(c.fd);
        return done;
    });
}

}  // namespace espgw::ike

#pragma once
// espgw-ike's unix control socket (DESIGN.md: mode 0660, group [ike] control_group;
// other users are refused by the file permissions). Protocol of espgw-dp's socket
// (dataplane/dp/stats.hpp): the client writes one request line, the server answers
// one JSON document and closes. Non-blocking: poll_once() is called from the IKE main
// loop and never waits, so a slow or silent client cannot stall IKE. Control thread only.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace espgw::ike {

class ControlServer {
public:
    using Handler = std::function<std::string(std::string_view line)>;

    /// Binds `path` (an old socket file there is replaced), chown to `group`, chmod
    /// 0660. Throws std::runtime_error naming the path or the unknown group.
    ControlServer(std::string path, const std::string& group, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    /// Accepts new clients, reads what arrived, answers complete request lines and
    /// drops clients silent for more than 2 s or sending more than 64 KiB. Never blocks.
    void poll_once();
    const std::string& path() const noexcept { return path_; }

private:
    struct Client {
        int fd = -1;
        std::string in;
        std::string out;
        size_t sent = 0;
        long long deadline_ms = 0;
    };
    std::string path_;
    int fd_ = -1;
    Handler handler_;
    std::vector<Client> clients_;
};

}  // namespace espgw::ike

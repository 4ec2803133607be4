#pragma once
// The control socket of espgw-dp (unix stream socket, default /run/espgw-dp.sock,
// mode 0660, group [dataplane] control_group). Protocol: a client connects, writes ONE
// request line (at most 4096 bytes, '\n'-terminated, words separated by spaces) and
// reads ONE JSON document ending in '\n'; the server then closes the connection.
// espctl (control/espctl) is the client; `echo "show sa" | socat - UNIX:...` works too.
//
// Read-only requests (the old stats commands stay valid without "show"):
//   show counters | stats   ports, path counters, drops, workers, SAs, neighbours
//   show ports | workers | drops | neighbors
//   show sa | sa list       per-SA packets/bytes/seq/lifetimes/drops (never keys)
//   show policies | policy list,  show routes | route list
// Mutating requests (through the shared-table writer API, dataplane/tables/writer.hpp;
// the writer lock serialises them with espgw-ike):
//   sa add KEY=VALUE...     the keys of a config [[sa]] table (id, spi, direction,
//                           suite, keymat, tunnel_src, tunnel_dst, ...)
//   sa del ID
//   policy add KEY=VALUE... the keys of a [[policy]] table; answers its policy id
//   policy del ID
//   route add KEY=VALUE...  prefix=, port= (a [[port]] name), optional via=
//   route del PREFIX        (or prefix=PREFIX)
// Answers: the document asked for; {"ok":true,...} after a change; on failure
// {"error":"<message>","code":"<code>"} with code one of unknown_command, bad_request
// (a malformed request or a refused key: the message names the key), refused (the
// tables said no: id in use, no such SA, table full, ...). Messages and logs never
// carry key material; the request buffer is wiped after use.
// Served on the main lcore (the writer calls may wait one RCU grace period).

#include <string>
#include <string_view>

namespace espgw::dp {

struct Dataplane;

/// `in` escaped for a JSON string (quotes, backslashes, control characters). Any thread.
std::string json_escape(std::string_view in);

/// Answer to one request line (JSON, newline-terminated). May change the shared
/// tables (see above). Main thread only.
std::string stats_answer(const Dataplane& dp, const std::string& command);

class StatsServer {
public:
    /// Binds `path` (unlinking a stale socket), mode 0660, group
    /// dp.cfg.dataplane.control_group. Throws std::runtime_error (an unknown group is
    /// named with its key, dataplane.control_group).
    StatsServer(const Dataplane& dp, std::string path);
    ~StatsServer();
    StatsServer(const StatsServer&) = delete;
    StatsServer& operator=(const StatsServer&) = delete;

    /// Serves clients for up to `timeout_ms`, then returns. Main thread.
    void poll_once(int timeout_ms);

private:
    const Dataplane& dp_;
    std::string path_;
    int fd_ = -1;
};

}  // namespace espgw::dp

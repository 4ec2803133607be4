#pragma once
// The stats/control unix socket of espgw-dp. A client connects, writes one command
// line and reads one JSON document; the server then closes the connection.
//   stats      everything below in one object
//   ports      per-port RX/TX counters (summed over workers)
//   workers    per-worker loop, path and drop counters
//   drops      drop counters by reason (dataplane reasons and ESP reasons), summed
//   sa         per-SA packets/bytes/drops (from the shared tables)
//   neighbors  the neighbour table
// Served on the main lcore; reads worker counters with relaxed loads.

#include <string>

namespace espgw::dp {

struct Dataplane;

/// Answer to one command (JSON, newline-terminated); {"error": ...} for unknown
/// commands. Main thread.
std::string stats_answer(const Dataplane& dp, const std::string& command);

class StatsServer {
public:
    /// Binds `path` (unlinking a stale socket) with mode 0660. Throws std::runtime_error.
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

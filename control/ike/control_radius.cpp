// `show ike radius` of espgw-ike's CLI socket (issue 6): the RADIUS servers by address
// and port (never their secrets), the client's request, retransmission, failover,
// timeout and drop counters, and the accounting counters. One flat JSON object, so
// espctl prints it as key/value lines.
#include "control/ike/control_commands.hpp"
#include "control/ike/ike_manager.hpp"

#include <fmt/format.h>

namespace espgw::ike {

std::string IkeControl::radius_status() const {
    const RadiusService* r = manager_.radius();
    if (!r) return R"({"configured":false})";
    const RadiusConfig& cfg = r->config();
    std::string servers;
    for (const auto& s : cfg.client.servers)
        servers += fmt::format("{}{}:{}/{}", servers.empty() ? "" : " ", s.address, s.port, s.acct_port);
    const radius::ClientCounters& c = r->counters();
    AccountingCounters a;
    size_t sessions = 0;
    if (const RadiusAccounting* acct = r->accounting()) {
        a = acct->counters();
        sessions = acct->sessions();
    }
    return fmt::format(
        "{{\"configured\":true,\"servers\":{},\"timeout_s\":{},\"retries\":{},\"nas_identifier\":{},"
        "\"requests\":{},\"sent\":{},\"retransmits\":{},\"failovers\":{},\"timeouts\":{},\"replies\":{},"
        "\"dropped_malformed\":{},\"dropped_bad_authenticator\":{},\"dropped_bad_message_authenticator\":{},"
        "\"dropped_unknown\":{},\"dropped_bad_code\":{},\"send_errors\":{},"
        "\"accounting\":{},\"interim_s\":{},\"acct_sessions\":{},\"acct_starts\":{},\"acct_interims\":{},"
        "\"acct_stops\":{},\"acct_ons\":{},\"acct_offs\":{},\"acct_answered\":{},\"acct_timeouts\":{}}}",
        json_string(servers), cfg.client.timeout_s, cfg.client.retries, json_string(cfg.nas_identifier), c.requests,
        c.sent, c.retransmits, c.failovers, c.timeouts, c.replies, c.dropped_malformed, c.dropped_bad_auth,
        c.dropped_bad_msg_auth, c.dropped_unknown, c.dropped_bad_code, c.send_errors, cfg.accounting, cfg.interim_s,
        sessions, a.starts, a.interims, a.stops, a.ons, a.offs, a.answered, a.timeouts);
}

}  // namespace espgw::ike

#pragma once
// The commands of espgw-ike's CLI socket (one request line, one JSON answer: the
// protocol of espgw-dp's socket, dataplane/dp/stats.hpp): answers on success, and
// {"error":"<message>","code":"<code>"} with code unknown_command, bad_request or
// refused. Commands:
//   conn list                     configured connections
//   conn down NAME                Delete (RFC 7296 §1.4.1) of every IKE SA of NAME
//   ike sa list                   IKE SAs with their CHILD_SAs (SPIs, algorithms,
//                                 dataplane counters where known; never keys)
//   ike sa delete SPI|PEER        Delete of one IKE SA by our/their SPI (hex) or of
//                                 all IKE SAs of a peer address (a.b.c.d[:port])
//   show ike counters             IkeManager's message counters
//   pool list                     the virtual-IP leases
//   show users (users [list])     established peers: identity, virtual IP, outer
//                                 address and port, NAT, seconds up
//   reload                        re-reads the configuration file and the user
//                                 database ([ike] users_file): a broken one is
//                                 refused with the reason and nothing changes; a
//                                 valid one applies to new IKE SAs (existing ones keep
//                                 the connection they were made with)
//   user list | user show NAME    the local user database (control_users.cpp; never
//                                 hashes)
//   user add NAME KEY=VALUE...    add a user: password= real_name= email= static_ip=
//                                 groups=a,b enabled=0|1 (values percent-encoded, the
//                                 password required); saved atomically, live at once
//   user set NAME KEY=VALUE...    change attributes (not the password)
//   user passwd NAME password=P   new password
//   user del|enable|disable NAME
// Control thread only (the same thread as the IkeManager); never logs or answers keys.

#include "control/ike/config.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/user_db.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace espgw::ike {

/// Packets and bytes an SA carried, as the dataplane counts them.
struct ChildCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
};

/// Dataplane counters of the SA with (host-order) SPI `spi` in one direction; nullopt
/// when not known (no dataplane, or not installed).
using CounterLookup = std::function<std::optional<ChildCounters>(uint32_t spi, bool inbound)>;

class IkeControl {
public:
    /// `live` is the configuration `manager` was built with (it keeps a reference):
    /// reload replaces its contents in place. `config_path` is re-read by reload.
    IkeControl(IkeConfig& live, IkeManager& manager, std::string config_path);

    /// Optional dataplane counters for `ike sa list`; called once per answer.
    void set_counters(CounterLookup lookup) { counters_ = std::move(lookup); }
    /// Called before `ike sa list` to refresh what `set_counters`' lookup reads.
    void set_refresh(std::function<void()> refresh) { refresh_ = std::move(refresh); }

    /// The live user database (owned by the caller, outliving this object): `user ...`
    /// commands change and save it, `reload` replaces its contents in place. Without
    /// it, `user` commands are refused.
    void set_users(UserDb* users) { users_ = users; }

    /// Answers one request line (without the line break). Never throws.
    std::string answer(std::string_view line);

    /// Applies `next` (already parsed and validated) as `reload` does. False with
    /// `*why` when it cannot be applied (a pool changed its range while it has
    /// leases); then nothing changed.
    bool apply(IkeConfig next, std::string* why);

private:
    std::string conn_list() const;
    std::string sa_list();
    std::string sa_delete(std::string_view what);
    std::string conn_down(std::string_view name);
    /// `conn up NAME`: initiates the site-to-site connection (IkeManager::initiate).
    std::string conn_up(std::string_view name);
    std::string counters() const;
    /// `show ike radius`: RADIUS servers (addresses only), client and accounting counters
    /// (control_radius.cpp).
    std::string radius_status() const;
    std::string pool_list();
    std::string users() const;
    std::string reload();
    /// `user ...` (control_users.cpp). `w` are the request's words.
    std::string user_command(const std::vector<std::string>& w);

    IkeConfig& live_;
    IkeManager& manager_;
    std::string config_path_;
    CounterLookup counters_;
    std::function<void()> refresh_;
    UserDb* users_ = nullptr;
    // Connections of earlier configurations: IKE SAs made with them point into these
    // vectors (moving a vector keeps its elements where they are).
    std::vector<std::vector<ConnectionConfig>> retired_;
};

/// JSON string literal of `s` (quotes included, control characters escaped).
std::string json_string(std::string_view s);

}  // namespace espgw::ike

#pragma once
// IKEv2 tasks in strongSwan's shape: one task per protocol job (ike_init, ike_natd,
// ike_auth, ike_config, child_create, ...), each processing its part of a request and
// building its part of the response. A responder exchange runs process_r on every task
// of the exchange, then build_r on every task, in order. Initiator halves (build_i /
// process_i) come with the initiator; the default says "not supported".

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ike_sa.hpp"
#include "control/ike/message.hpp"
#include "control/ike/sa_sink.hpp"

#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace espgw::ike {

enum class TaskStatus {
    SUCCESS,   // done, continue with the next task
    FAILED,    // the exchange fails: the response carries Exchange::error only
};

/// What tasks share while one exchange runs.
struct Exchange {
    const Message* request = nullptr;  // outer header + decrypted payloads
    std::vector<Payload> response;     // payloads the response will carry
    std::optional<NotifyType> error;   // set by a failing task: answer this notify alone
    Bytes error_data;
};

/// Services tasks may use; owned by IkeManager.
struct TaskContext {
    const IkeConfig& config;
    std::map<std::string, AddressPool>& pools;
    SaSink& sink;
};

class Task {
public:
    virtual ~Task() = default;
    virtual std::string_view name() const noexcept = 0;
    /// Responder: read this task's part of the request. May set ex.error and fail.
    virtual TaskStatus process_r(IkeSa& sa, Exchange& ex) = 0;
    /// Responder: append this task's payloads to ex.response.
    virtual TaskStatus build_r(IkeSa& sa, Exchange& ex) = 0;
};

}  // namespace espgw::ike

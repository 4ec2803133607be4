#pragma once
// IKEv2 tasks in strongSwan's shape: one task per protocol job (ike_init, ike_natd,
// ike_auth, ike_config, child_create, ...), each processing its part of a request and
// building its part of the response. A responder exchange runs process_r on every task
// of the exchange, then build_r on every task, in order. A task we initiate (rekey,
// delete, DPD) runs alone in its exchange: build_i builds the request, process_i reads
// the response; IkeManager queues, sends and retransmits it.

#include "control/ike/address_pool.hpp"
#include "control/ike/config.hpp"
#include "control/ike/ike_sa.hpp"
#include "control/ike/message.hpp"
#include "control/ike/sa_sink.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace espgw::ike {

enum class TaskStatus {
    SUCCESS,   // done, continue with the next task
    FAILED,    // the exchange fails: the response carries Exchange::error only
};

class Task;

/// What tasks share while one exchange runs.
struct Exchange {
    const Message* request = nullptr;  // received: outer header + decrypted payloads (for
                                       // build_r the request, for process_i the response)
    std::vector<Payload> response;     // payloads the message we send will carry
    std::optional<NotifyType> error;   // set by a failing task: answer this notify alone
    Bytes error_data;
    std::unique_ptr<IkeSa> new_ike_sa;            // §1.3.2: the IKE SA that replaces this one
    std::vector<std::shared_ptr<Task>> follow_up;  // our requests to queue (delete the old pair)
    bool delete_ike_sa = false;                    // the IKE SA ends after this exchange
    // CHILD_SAs we initiated that the responder made in another mode than we asked for
    // (RFC 7296 §1.3.1): deleted; counted in IkeCounters::child_mode_mismatch.
    uint32_t child_mode_mismatch = 0;
};

class UserDb;
class RadiusService;
class EapServer;

/// Services tasks may use; owned by IkeManager.
struct TaskContext {
    const IkeConfig& config;
    std::map<std::string, AddressPool>& pools;
    SaSink& sink;
    Clock::time_point now{};  // the manager's clock at the current event
    const UserDb* users = nullptr;    // local users for EAP (IkeManager::set_users); may be null
    RadiusService* radius = nullptr;  // EAP-RADIUS relays; null without [radius]
    // Tests: makes the EAP server of every EAP connection instead of remote_auth's.
    std::function<std::unique_ptr<EapServer>(const ConnectionConfig&)> eap_override;
};

class Task {
public:
    virtual ~Task() = default;
    virtual std::string_view name() const noexcept = 0;
    /// Responder: read this task's part of the request. May set ex.error and fail.
    virtual TaskStatus process_r(IkeSa& sa, Exchange& ex) = 0;
    /// Responder: append this task's payloads to ex.response.
    virtual TaskStatus build_r(IkeSa& sa, Exchange& ex) = 0;
    /// Initiator: the exchange type of our request.
    virtual ExchangeType exchange_type() const noexcept { return ExchangeType::INFORMATIONAL; }
    /// Initiator: the request's payloads into ex.response. FAILED: nothing to send
    /// (the task became moot, e.g. its CHILD_SA is gone); the manager drops it.
    virtual TaskStatus build_i(IkeSa& sa, Exchange& ex) {
        (void)sa;
        (void)ex;
        return TaskStatus::FAILED;
    }
    /// Initiator: read the response (ex.request). May set ex.follow_up/delete_ike_sa.
    virtual TaskStatus process_i(IkeSa& sa, Exchange& ex) {
        (void)sa;
        (void)ex;
        return TaskStatus::FAILED;
    }
};

}  // namespace espgw::ike

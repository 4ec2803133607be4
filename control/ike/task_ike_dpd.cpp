// Liveness check (dead peer detection) that we initiate (RFC 7296 §1.4, §2.4):
//   HDR, SK { }  -->
//           <--  HDR, SK { }
// Sent after `dpd_delay` seconds without an authenticated message from the peer. The
// answer itself is all we need (IkeManager notes every authenticated message); a peer
// that stays silent through all retransmissions is dead and its IKE SA is cleared.
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"

namespace espgw::ike {

namespace {

class IkeDpd final : public Task {
public:
    std::string_view name() const noexcept override { return "ike_dpd"; }
    TaskStatus process_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    TaskStatus build_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    TaskStatus build_i(IkeSa& sa, Exchange&) override {
        return sa.state == IkeSaState::ESTABLISHED ? TaskStatus::SUCCESS : TaskStatus::FAILED;
    }
    TaskStatus process_i(IkeSa&, Exchange&) override { return TaskStatus::SUCCESS; }
};

}  // namespace

std::unique_ptr<Task> make_ike_dpd(TaskContext&) { return std::make_unique<IkeDpd>(); }

}  // namespace espgw::ike

#pragma once
// IKE_SA_INIT, initiator side (RFC 7296 §1.2, §2.6, §2.7, §2.23):
//   HDR, [N(COOKIE),] SAi1, KEi, Ni, N(NAT_DETECTION_*_IP)  -->
//                       <--  HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*_IP)
// or <-- N(COOKIE) / N(INVALID_KE_PAYLOAD), after which the request is sent again with
// the cookie first / a KE of the responder's group (retry()). Control thread only.

#include "control/ike/task.hpp"

namespace espgw::ike {

class IkeInitI final : public Task {
public:
    explicit IkeInitI(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_init_i"; }
    ExchangeType exchange_type() const noexcept override { return ExchangeType::IKE_SA_INIT; }
    /// Not a responder task: always FAILED.
    TaskStatus process_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    TaskStatus build_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    /// The request payloads for sa.conn (proposals strongest first, KE of the first
    /// proposal's group or the group the responder asked for). Throws only when
    /// randomness or key generation fails.
    TaskStatus build_i(IkeSa& sa, Exchange& ex) override;
    /// Reads the response (ex.request, header included, sa.spi_r still 0): SUCCESS
    /// sets the algorithms, Nr, SPIr, keys and NAT flags. FAILED with retry() true:
    /// send build_i's request again; without: the IKE SA failed.
    TaskStatus process_i(IkeSa& sa, Exchange& ex) override;
    bool retry() const noexcept { return retry_; }

private:
    TaskContext& ctx_;
    Bytes cookie_;
    std::optional<DhGroup> group_;
    unsigned cookie_tries_ = 0;
    unsigned ke_tries_ = 0;
    bool retry_ = false;
};

}  // namespace espgw::ike

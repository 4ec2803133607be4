#pragma once
// Factories for the responder tasks; each lives in its own task_*.cpp.

#include "control/ike/task.hpp"

#include <memory>

namespace espgw::ike {

/// IKE_SA_INIT: SA, KE, Nonce; proposal selection, INVALID_KE_PAYLOAD, key derivation.
std::unique_ptr<Task> make_ike_init(TaskContext& ctx);
/// IKE_SA_INIT: NAT_DETECTION_SOURCE/DESTINATION_IP (§2.23).
std::unique_ptr<Task> make_ike_natd(TaskContext& ctx);
/// IKE_AUTH: IDi/IDr, AUTH with pre-shared keys (§2.15), connection choice.
std::unique_ptr<Task> make_ike_auth(TaskContext& ctx);
/// IKE_AUTH: configuration payload, virtual IPv4 from the connection's pool (§2.19).
std::unique_ptr<Task> make_ike_config(TaskContext& ctx);
/// IKE_AUTH: the first CHILD_SA: ESP proposal, TS narrowing, KEYMAT, install (§2.17).
std::unique_ptr<Task> make_child_create(TaskContext& ctx);

/// NAT detection hash (§2.23): SHA-1(SPIi | SPIr | IP | port).
Bytes natd_hash(uint64_t spi_i, uint64_t spi_r, const Endpoint& ep);

}  // namespace espgw::ike

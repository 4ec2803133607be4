#pragma once
// Factories for the responder tasks; each lives in its own task_*.cpp.

#include "control/ike/task.hpp"

#include <memory>
#include <vector>

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

/// CREATE_CHILD_SA for a CHILD_SA (§1.3.1, §1.3.3): as responder a new pair or the
/// rekey of one (N(REKEY_SA)), optional PFS (KE); as initiator the rekey of our pair
/// with inbound SPI `spi_in`, collisions resolved by the lowest nonce (§2.8.1).
std::unique_ptr<Task> make_child_rekey(TaskContext& ctx, uint32_t spi_in = 0);
/// CREATE_CHILD_SA rekeying the IKE SA, responder (§1.3.2): new SPIs and keys, the
/// CHILD_SAs move to the new IKE SA (Exchange::new_ike_sa); the peer deletes the old one.
std::unique_ptr<Task> make_ike_rekey(TaskContext& ctx);
/// INFORMATIONAL Delete we initiate (§1.4.1): the CHILD_SA pairs with these inbound
/// SPIs (removed from the sink when answered), or, with no SPIs, the IKE SA itself.
std::unique_ptr<Task> make_delete(TaskContext& ctx, std::vector<uint32_t> spis_in);
/// INFORMATIONAL Delete of a CHILD_SA the peer created but we refused to install (our
/// inbound SPI `spi_in`; e.g. §1.3.1, answered in another mode than we asked for): the
/// peer removes its pair, we have nothing to remove.
std::unique_ptr<Task> make_delete_uninstalled(TaskContext& ctx, uint32_t spi_in);
/// INFORMATIONAL liveness check we initiate (§1.4, §2.4): an empty request.
std::unique_ptr<Task> make_ike_dpd(TaskContext& ctx);

/// IKE_AUTH we initiate (site-to-site, PSK): IDi, [IDr,] AUTH, SAi2, TSi, TSr; verifies
/// the responder's AUTH and installs the first CHILD_SA (ChildSaInfo::initiator = true).
/// The IKE_SA_INIT initiator task is IkeInitI (task_ike_init_i.hpp).
std::unique_ptr<Task> make_ike_auth_i(TaskContext& ctx);

/// NAT detection hash (§2.23): SHA-1(SPIi | SPIr | IP | port).
Bytes natd_hash(uint64_t spi_i, uint64_t spi_r, const Endpoint& ep);

}  // namespace espgw::ike

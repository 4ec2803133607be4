#pragma once
// Port bring-up: maps each [[port]] to its DPDK port (vdev name or PCI address),
// configures RX queues (RSS across them where the device supports it), one TX queue
// per worker, MTU and MAC, and starts it. Main lcore only; throws std::runtime_error
// naming the port on failure.

#include <cstdint>

namespace espgw::dp {

struct Dataplane;

/// Configures and starts every port; fills Dataplane::ports and assigns RX queues
/// to workers round-robin. Dataplane::workers must already exist.
void ports_start(Dataplane& dp);

/// Stops and closes every port.
void ports_stop(Dataplane& dp) noexcept;

}  // namespace espgw::dp

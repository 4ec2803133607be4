#pragma once
// espgw-ike's dataplane agent: the one process of espgw-ike that attaches to espgw-dp
// as a DPDK secondary. The IKE process (dp_link.hpp) starts it as
//   espgw-ike --dp-agent PREFIX --agent-fd N [--agent-grace S] [--agent-generation G]
// with one end of a SOCK_SEQPACKET socketpair on fd N, and talks to it in the
// messages of dp_agent_proto.hpp: punted IKE packets up, IKE packets to inject and SA
// writes (TablesSaSink) down.
//
// Why a process of its own: a DPDK secondary cannot re-run rte_eal_init, so it cannot
// outlive a restart of its primary. The agent can: when espgw-dp goes away (its
// config-file lock is released) the agent re-executes itself, waits for the new
// espgw-dp, attaches again and says HELLO with a new generation; the IKE process,
// which kept every IKE SA and the keys of every live CHILD_SA, then re-installs them
// all (issue 4/7: "if espgw-dp restarts, espgw-ike re-installs every live SA"). It
// also separates privileges: the IKE process parses the network and may drop root;
// the agent keeps root (DPDK shared memory) and parses only its parent's messages.
//
// SAs an earlier espgw-ike left in the tables (killed: ids >= TablesSaSink::kIdBase)
// keep forwarding until the first INSTALL (then removed, so stale policies never
// shadow new ones) or for at most the grace time (then the peers' DPD re-establishes).

#include <cstdint>
#include <string>

namespace espgw::ike {

/// The agent's main: never returns while the IKE process is alive (re-executes itself
/// when espgw-dp goes away); returns 0 when the IKE process closed the socket.
int run_dp_agent(const std::string& prefix, int fd, uint32_t grace_s, uint32_t generation);

}  // namespace espgw::ike

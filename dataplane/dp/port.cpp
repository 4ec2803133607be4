// Port configuration (rte_ethdev).
#include "dataplane/dp/port.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/worker.hpp"

namespace espgw::dp {

namespace {
constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;

[[noreturn]] void port_fail(const PortInfo& p, const std::string& what, int rc) {
    throw std::runtime_error(fmt::format("port {} ({}): {}: {}", p.name, p.device, what, rte_strerror(-rc)));
}
}  // namespace

bool Dataplane::is_local6(const uint8_t* a, uint16_t* port_idx) const noexcept {
    uint64_t x[2];
    std::memcpy(x, a, 16);
    for (uint32_t i = 0; i < nb_local6; ++i) {
        uint64_t y[2];
        std::memcpy(y, local6[i].bytes, 16);
        if (x[0] == y[0] && x[1] == y[1]) {
            if (port_idx) *port_idx = local6_port[i];
            return true;
        }
    }
    return false;
}

void Dataplane::index_local_addrs() noexcept {
    nb_local4 = nb_local6 = 0;
    for (uint16_t p = 0; p < nb_ports; ++p)
        for (uint32_t i = 0; i < ports[p].nb_addrs; ++i) {
            const net::IpAddr& o = ports[p].addrs[i].addr;
            if (o.family == 4) {
                std::memcpy(&local4[nb_local4], o.bytes, 4);
                local4_port[nb_local4++] = p;
            } else {
                local6[nb_local6] = o;
                local6_port[nb_local6++] = p;
            }
        }
}

void ports_start(Dataplane& dp) {
    const Config& cfg = dp.cfg;
    auto nb_workers = static_cast<uint16_t>(dp.workers.size());
    dp.nb_ports = static_cast<uint32_t>(cfg.ports.size());
    bool outside_set = false;
    for (uint16_t i = 0; i < cfg.ports.size(); ++i) {
        const PortConfig& pc = cfg.ports[i];
        PortInfo& p = dp.ports[i];
        p.name = pc.name;
        p.device = pc.device;
        p.role = pc.role;
        p.mtu = pc.mtu;
        p.nb_rxq = pc.queues;
        p.nb_txq = nb_workers;
        p.nb_addrs = 0;
        for (const Prefix& a : pc.addresses)
            if (p.nb_addrs < kMaxPortAddrs) p.addrs[p.nb_addrs++] = a;
        if (pc.role == PortRole::outside && !outside_set) {
            dp.outside_port = i;
            outside_set = true;
        }
        std::string devname = pc.device.substr(0, pc.device.find(','));
        int rc = rte_eth_dev_get_port_by_name(devname.c_str(), &p.port_id);
        if (rc != 0) port_fail(p, fmt::format("no DPDK port named {}", devname), rc);

        rte_eth_dev_info info{};
        rc = rte_eth_dev_info_get(p.port_id, &info);
        if (rc != 0) port_fail(p, "dev_info_get", rc);
        if (p.nb_rxq > info.max_rx_queues)
            throw std::runtime_error(fmt::format("port {}: {} queues configured, the device has {}", p.name, p.nb_rxq,
                                                 info.max_rx_queues));
        if (nb_workers > info.max_tx_queues)
            throw std::runtime_error(fmt::format("port {}: {} workers need {} TX queues, the device has {}", p.name,
                                                 nb_workers, nb_workers, info.max_tx_queues));
        rte_eth_conf conf{};
        uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP);
        if (p.nb_rxq > 1 && rss) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss;
            p.rss = true;
        }
        // idle = "interrupt": ask for RX queue interrupts. PMDs without them ignore the
        // request (the worker finds out when it arms them and sleeps instead); one that
        // refuses the configuration gets it again without.
        if (cfg.dataplane.idle == IdleMode::interrupt) conf.intr_conf.rxq = 1;
        rc = rte_eth_dev_configure(p.port_id, p.nb_rxq, p.nb_txq, &conf);
        if (rc != 0 && conf.intr_conf.rxq) {
            fmt::print(stderr, "espgw-dp: port {}: configure with RX interrupts failed ({}); without them\n", p.name,
                       rte_strerror(-rc));
            conf.intr_conf.rxq = 0;
            rc = rte_eth_dev_configure(p.port_id, p.nb_rxq, p.nb_txq, &conf);
        }
        if (rc != 0) port_fail(p, "configure", rc);
        int socket = rte_eth_dev_socket_id(p.port_id);
        if (socket < 0) socket = 0;
        uint16_t rxd = kRxDesc, txd = kTxDesc;
        rte_eth_dev_adjust_nb_rx_tx_desc(p.port_id, &rxd, &txd);
        for (uint16_t q = 0; q < p.nb_rxq; ++q) {
            rc = rte_eth_rx_queue_setup(p.port_id, q, rxd, static_cast<unsigned>(socket), nullptr, dp.pool);
            if (rc != 0) port_fail(p, fmt::format("rx queue {}", q), rc);
        }
        for (uint16_t q = 0; q < p.nb_txq; ++q) {
            rc = rte_eth_tx_queue_setup(p.port_id, q, txd, static_cast<unsigned>(socket), nullptr);
            if (rc != 0) port_fail(p, fmt::format("tx queue {}", q), rc);
        }
        if (info.max_mtu >= p.mtu) {
            rc = rte_eth_dev_set_mtu(p.port_id, static_cast<uint16_t>(p.mtu));
            if (rc != 0 && rc != -ENOTSUP)
                fmt::print(stderr, "espgw-dp: port {}: cannot set MTU {} ({}); enforcing it in software\n", p.name,
                           p.mtu, rte_strerror(-rc));
        }
        if (pc.mac) {
            rte_ether_addr a;
            std::memcpy(a.addr_bytes, pc.mac->data(), 6);
            rc = rte_eth_dev_default_mac_addr_set(p.port_id, &a);
            if (rc != 0) port_fail(p, "set MAC", rc);
        }
        rte_ether_addr mac;
        rte_eth_macaddr_get(p.port_id, &mac);
        std::memcpy(p.mac.data(), mac.addr_bytes, 6);
        rc = rte_eth_dev_start(p.port_id);
        if (rc != 0) port_fail(p, "start", rc);
        rte_eth_promiscuous_enable(p.port_id);  // we filter by MAC ourselves; vdevs may lack it
        // RX queues to workers, round-robin over (port, queue).
        for (uint16_t q = 0; q < p.nb_rxq; ++q) {
            Worker& w = *dp.workers[(i + q) % nb_workers];
            if (w.nb_rxq < kMaxRxQueuesPerWorker) w.rxq[w.nb_rxq++] = {i, q};
        }
    }
    dp.index_local_addrs();
}

void ports_stop(Dataplane& dp) noexcept {
    for (uint32_t i = 0; i < dp.nb_ports; ++i) {
        rte_eth_dev_stop(dp.ports[i].port_id);
        rte_eth_dev_close(dp.ports[i].port_id);
    }
}

}  // namespace espgw::dp

#include "control/ike/sa_sink_json.hpp"

#include "control/ike/address_pool.hpp"
#include "control/ike/log.hpp"
#include "control/ike/traffic_selector.hpp"

#include <cstdio>

namespace espgw::ike {

std::string to_string(const Endpoint& e) {
    return fmt::format("{}[{}]", ipv4_to_string(e.addr_host), e.port);
}

namespace {
std::string ts_json(const std::vector<TrafficSelector>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ",\"" : "\"") + to_string(v[i]) + "\"";
    return s + "]";
}
}  // namespace

std::string child_sa_json(const ChildSaInfo& i) {
    return fmt::format(
        "{{\"conn\":\"{}\",\"peer_id\":\"{}\",\"local\":\"{}\",\"remote\":\"{}\",\"mode\":\"{}\",\"udp_encap\":{},"
        "\"spi_in\":\"{:08x}\",\"spi_out\":\"{:08x}\",\"alg\":\"{}\",\"ts_local\":{},\"ts_remote\":{},"
        "\"virtual_ip\":\"{}\",\"virtual_ip6\":\"{}\"}}",
        i.connection, i.peer_identity, to_string(i.local), to_string(i.remote), mode_name(i.mode), i.udp_encap, i.spi_in,
        i.spi_out, to_string(i.alg), ts_json(i.ts_local), ts_json(i.ts_remote),
        i.virtual_ip ? ipv4_to_string(*i.virtual_ip) : std::string(),
        i.virtual_ip6 ? ipv6_to_string(*i.virtual_ip6) : std::string());
}

bool JsonSaSink::install(const ChildSaInfo& info, const ChildSaKeys&) {
    log_info("CHILD_SA installed conn={} peer={} id={} mode={} spi_in={:08x} spi_out={:08x} alg={} encap={}",
             info.connection, to_string(info.remote), info.peer_identity, mode_name(info.mode), info.spi_in, info.spi_out,
             to_string(info.alg), info.udp_encap ? "udp" : "none");
    append("{\"event\":\"install\",\"sa\":" + child_sa_json(info) + "}");
    return true;
}

void JsonSaSink::remove(uint32_t spi_in, uint32_t spi_out) {
    log_info("CHILD_SA removed spi_in={:08x} spi_out={:08x}", spi_in, spi_out);
    append(fmt::format("{{\"event\":\"remove\",\"spi_in\":\"{:08x}\",\"spi_out\":\"{:08x}\"}}", spi_in, spi_out));
}

void JsonSaSink::append(const std::string& line) {
    if (path_.empty()) return;
    FILE* f = std::fopen(path_.c_str(), "a");
    if (!f) {
        log_warn("cannot append to {}", path_);
        return;
    }
    std::fprintf(f, "%s\n", line.c_str());
    std::fclose(f);
}

}  // namespace espgw::ike

#include "control/ike/config_fragments.hpp"

#include <stdexcept>
#include <string>

namespace espgw::ike {

void parse_fragmentation(const toml::table& ike, FragmentationConfig& out) {
    if (const toml::node* n = ike.get("fragmentation")) {
        // Accept TOML booleans too: fragmentation = true reads like "yes".
        if (const auto b = n->value_exact<bool>()) {
            out.mode = *b ? FragmentationMode::YES : FragmentationMode::NO;
        } else {
            const auto s = n->value_exact<std::string>();
            if (s && *s == "yes") out.mode = FragmentationMode::YES;
            else if (s && *s == "no") out.mode = FragmentationMode::NO;
            else if (s && *s == "force") out.mode = FragmentationMode::FORCE;
            else throw std::invalid_argument("ike.fragmentation: expected \"yes\", \"no\" or \"force\"");
        }
    }
    if (const toml::node* n = ike.get("fragment_size")) {
        // RFC 791: every IPv4 host takes 576-byte datagrams; below that a fragment could
        // itself be fragmented by IP, which is what RFC 7383 avoids.
        const auto v = n->value_exact<int64_t>();
        if (!v || *v < 576 || *v > 65535)
            throw std::invalid_argument("ike.fragment_size: expected an IP datagram size in bytes, 576..65535");
        out.fragment_size = static_cast<uint32_t>(*v);
    }
}

}  // namespace espgw::ike

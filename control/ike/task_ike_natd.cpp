// NAT detection (RFC 7296 §2.23), carried in IKE_SA_INIT:
//   HDR, SAi1, KEi, Ni, N(NAT_DETECTION_SOURCE_IP)+, N(NAT_DETECTION_DESTINATION_IP) -->
//                  <-- HDR, SAr1, KEr, Nr, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP)
// A mismatching source hash means the peer is behind a NAT; a mismatching destination
// hash means we are. Either switches the IKE SA and its CHILD_SAs to UDP 4500 with
// UDP-encapsulated ESP (RFC 3948).
#include "control/ike/tasks.hpp"

#include <openssl/sha.h>

namespace espgw::ike {

Bytes natd_hash(uint64_t spi_i, uint64_t spi_r, const Endpoint& ep) {
    uint8_t in[8 + 8 + 4 + 2];
    for (int i = 0; i < 8; ++i) in[i] = static_cast<uint8_t>(spi_i >> (56 - 8 * i));
    for (int i = 0; i < 8; ++i) in[8 + i] = static_cast<uint8_t>(spi_r >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) in[16 + i] = static_cast<uint8_t>(ep.addr_host >> (24 - 8 * i));
    in[20] = static_cast<uint8_t>(ep.port >> 8);
    in[21] = static_cast<uint8_t>(ep.port);
    Bytes out(SHA_DIGEST_LENGTH);
    SHA1(in, sizeof in, out.data());
    return out;
}

namespace {

class IkeNatd final : public Task {
public:
    std::string_view name() const noexcept override { return "ike_natd"; }

    TaskStatus process_r(IkeSa& sa, Exchange& ex) override {
        bool any_src = false, src_match = false, any_dst = false, dst_match = false;
        // The request's hashes use SPIr = 0 (§2.23: the SPIs of the message itself).
        const Bytes want_src = natd_hash(sa.spi_i, 0, sa.remote);
        const Bytes want_dst = natd_hash(sa.spi_i, 0, sa.local);
        for (const auto& p : ex.request->payloads) {
            const auto* n = std::get_if<NotifyPayload>(&p.body);
            if (!n) continue;
            if (n->type == NotifyType::NAT_DETECTION_SOURCE_IP) {
                any_src = true;
                src_match = src_match || n->data == want_src;
            } else if (n->type == NotifyType::NAT_DETECTION_DESTINATION_IP) {
                any_dst = true;
                dst_match = dst_match || n->data == want_dst;
            }
        }
        supported_ = any_src && any_dst;
        if (supported_) {
            sa.nat_remote = !src_match;
            sa.nat_local = !dst_match;
        }
        return TaskStatus::SUCCESS;
    }

    TaskStatus build_r(IkeSa& sa, Exchange& ex) override {
        // §2.23: only answer NAT detection when the initiator asked for it.
        if (!supported_) return TaskStatus::SUCCESS;
        ex.response.push_back(make_notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_hash(sa.spi_i, sa.spi_r, sa.local)));
        ex.response.push_back(
            make_notify(NotifyType::NAT_DETECTION_DESTINATION_IP, natd_hash(sa.spi_i, sa.spi_r, sa.remote)));
        return TaskStatus::SUCCESS;
    }

private:
    bool supported_ = false;
};

}  // namespace

std::unique_ptr<Task> make_ike_natd(TaskContext&) { return std::make_unique<IkeNatd>(); }

}  // namespace espgw::ike

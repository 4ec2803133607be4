#pragma once
// The SaSink that puts negotiated CHILD_SAs into espgw-dp's shared tables through the
// writer API (dataplane/tables/writer.hpp), from espgw-ike attached as a DPDK
// secondary process. For each CHILD_SA pair:
//   - an inbound SA (our SPI; initiator→responder keys when we are the responder),
//   - an outbound SA (the peer's SPI; tunnel mode from our IKE address to the peer's,
//     or transport mode when negotiated (ChildSaInfo::mode: no tunnel endpoints, the
//     selectors are the two IKE addresses), ESP-in-UDP from the NAT-T port to the
//     peer's (maybe NAT-mapped) port when a NAT was detected, RFC 3948),
//   - one SPD protect entry per (local TS, remote TS) pair, TS ranges split into
//     prefixes (the dataplane's SPD is prefix based), pointing at the outbound SA id.
// The dataplane's inbound selector check is the reverse SPD lookup, so the same
// entries also admit the decrypted traffic.
//
// SA ids: espgw-ike uses ids from kIdBase up (espgw-dp's static SAs from its config use
// the lower half), skipping any id already installed, so a restarted espgw-ike never
// collides with SAs that are still live.
//
// Rekey (SaSink::rekey): the new inbound SA is installed under a new id; the outbound
// SA keeps its id and policies and is switched to the new SPI and keys with
// replace_sa (make-before-break, DESIGN.md); the old inbound SA stays until remove().
// Usage (accounting) of a pair includes the pairs it replaced: replace_sa starts the
// outbound counters afresh, so rekey() carries the old outbound counts over, and
// remove() of a replaced pair carries its inbound counts to its successor.
//
// Expiry: poll_events() drains the tables' event ring and reports soft/hard expiry
// of an SA it installed to the ChildExpiryListener by the pair's inbound SPI.
// Control thread only; never logs key material.

#include "control/ike/sa_sink.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <vector>

namespace espgw::tables {
class Tables;
}

namespace espgw::ike {

class TablesSaSink final : public SaSink {
public:
    static constexpr uint32_t kIdBase = 1u << 16;

    /// `tables` must outlive the sink.
    explicit TablesSaSink(tables::Tables& tables) : t_(tables) {}
    ~TablesSaSink() override;

    bool install(const ChildSaInfo& info, const ChildSaKeys& keys) override;
    void remove(uint32_t spi_in, uint32_t spi_out) override;
    bool rekey(uint32_t old_spi_in, uint32_t old_spi_out, const ChildSaInfo& info, const ChildSaKeys& keys) override;
    /// The pair's inbound and outbound SA counters from the dataplane (query_counters).
    SaUsage usage(uint32_t spi_in, uint32_t spi_out) override;

    void set_listener(ChildExpiryListener* l) noexcept { listener_ = l; }
    /// Drains expiry events; returns how many were reported. Control thread.
    size_t poll_events();

    /// Live CHILD_SA pairs installed by this sink.
    size_t pairs() const noexcept { return pairs_.size(); }

    /// Removes everything this sink installed (shutdown with "delete SAs" policy).
    void remove_all();

private:
    struct Outbound {               // shared by a pair and the pair that rekeyed it
        uint32_t out_id = 0;
        uint32_t spi_out = 0;       // current peer SPI on out_id
        std::vector<uint32_t> policy_ids;
    };
    struct Pair {
        uint32_t in_id = 0;
        uint32_t spi_out = 0;       // the outbound SPI negotiated with this pair
        std::shared_ptr<Outbound> out;
    };
    struct PendingSwitch {          // a rekey we responded to: outbound not switched yet
        uint32_t old_spi_in = 0;
        ChildSaInfo info;
        crypto::SecretBytes enc, integ;
    };
    bool alloc_id(uint32_t& id);
    bool install_in(const ChildSaInfo& info, const ChildSaKeys& keys, uint32_t& in_id);
    /// Puts the new pair `new_spi_in`'s outbound SA (SPI, keys) on the outbound slot it
    /// shares with the pair it replaced; its counters so far are carried over.
    bool switch_outbound(uint32_t new_spi_in, const ChildSaInfo& info, std::span<const uint8_t> enc,
                         std::span<const uint8_t> integ);

    tables::Tables& t_;
    ChildExpiryListener* listener_ = nullptr;
    std::map<uint32_t, Pair> pairs_;  // by inbound SPI
    std::map<uint32_t, uint32_t> successor_;  // replaced pair's inbound SPI -> its rekeyed pair's
    std::map<uint32_t, SaUsage> carried_;     // by inbound SPI: traffic of the pairs it replaced
    std::map<uint32_t, PendingSwitch> pending_;  // by the new pair's inbound SPI
    uint32_t next_id_ = kIdBase;
};

}  // namespace espgw::ike

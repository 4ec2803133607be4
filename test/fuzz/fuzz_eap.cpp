// libFuzzer target: EAP as espgw-ike reads it from a peer (IKEv2 EAP payload, RFC 7296
// §3.16): parse_eap() on the input, then the input as the peer's answers to the
// EAP-MSCHAPv2 and EAP-GTC servers of a user database with one user. Byte 0 selects the
// server and whether the EAP identifier is fixed up to match our request (so the method
// parsing behind that check is reached); the rest is split at 0xff bytes into up to
// three Responses. Anything may be refused; nothing may crash, leak or trip UBSan.

#include "control/ike/eap_mschapv2.hpp"
#include "control/ike/eap_packet.hpp"
#include "control/ike/user_db.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

using namespace espgw::ike;

namespace {

const UserDb& users() {
    static const UserDb db = [] {
        const std::vector<uint8_t> key(32, 0x42);
        UserDb d = UserDb::parse("", key);
        d.set_pbkdf2_iterations(1);
        User u;
        u.name = "alice";
        d.upsert(u, "clientPass");
        return d;
    }();
    return db;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    EapPacket p;
    (void)parse_eap({data + 1, size - 1}, p);
    const bool gtc = data[0] & 1;
    const bool fix_id = data[0] & 2;
    auto srv = gtc ? make_eap_gtc(users()) : make_eap_mschapv2(users());
    EapStep s = srv->start("alice");
    size_t at = 1;
    for (int round = 0; round < 3 && at <= size && s.kind == EapStep::Kind::CONTINUE; ++round) {
        size_t end = at;
        while (end < size && data[end] != 0xff) ++end;
        std::vector<uint8_t> msg(data + at, data + end);
        EapPacket req;
        if (fix_id && msg.size() >= 2 && parse_eap(s.eap, req) == EapError::OK) msg[1] = req.identifier;
        s = srv->process(msg);
        at = end + 1;
    }
    return 0;
}

// libFuzzer target: the RADIUS reply path of espgw-ike (control/radius/packet.cpp and
// the EAP-RADIUS relay's reading of a reply). The input is taken as a reply datagram
// to a fixed request: parse(), decode_reply() under the fixed secret, and for a packet
// that parses, vendor_attr() and decrypt_mppe_key() on its MS-MPPE keys and the EAP
// joining. With byte 0 odd the Response Authenticator (and the Message-Authenticator,
// when present) are fixed up first so that the attribute handling behind the checks is
// reached. Anything may be refused; nothing may crash, leak or trip UBSan.

#include "control/radius/packet.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace espgw::radius;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const uint8_t secret[] = {'f', 'u', 'z', 'z', '-', 's', 'e', 'c', 'r', 'e', 't'};
    Authenticator req{};
    for (size_t i = 0; i < req.size(); ++i) req[i] = static_cast<uint8_t>(i * 13);
    if (size < 1) return 0;
    const bool fix = data[0] & 1;
    std::vector<uint8_t> d(data + 1, data + size);
    if (fix) {
        if (auto p = parse(d)) d = encode_reply(*p, req, secret, p->find(attr::MESSAGE_AUTHENTICATOR) != nullptr);
    }
    DecodeError err;
    auto p = decode_reply(d, req, secret, &err);
    if (!p) p = parse(d);
    if (!p) return 0;
    (void)p->eap();
    for (uint8_t t : {kMsMppeSendKey, kMsMppeRecvKey})
        if (auto v = vendor_attr(*p, kVendorMicrosoft, t)) (void)decrypt_mppe_key(*v, secret, req);
    return 0;
}

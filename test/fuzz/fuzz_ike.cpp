// libFuzzer target: everything espgw-ike reads from the network or a file.
//
// Byte 0 picks the mode:
//   0: the IKE message codec (header, payload chain, every payload body);
//   1: the responder (IkeManager) fed with up to eight messages split at the marker
//      "\xde\xad\xbe\xef", from one peer, so later messages can name the SPIs an
//      earlier IKE_SA_INIT created; the exchange code sees arbitrary content;
//   2: the TOML configuration parser (control/ike/config.cpp).
// Anything may be refused; nothing may crash, leak or trip UBSan.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "control/ike/config.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/log.hpp"
#include "control/ike/message.hpp"

namespace {

using namespace espgw::ike;

const char* kConfig = R"(
[ike]
listen = "10.77.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
dns = ["10.99.0.53"]
[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "fuzz-target-psk-0123456789"
ike_proposals = ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048", "aes128-sha256-x25519"]
esp_proposals = ["aes128gcm16", "aes128-sha256"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
)";

struct NullTransport final : Transport {
    void send(const Endpoint&, const Endpoint&, std::span<const uint8_t>) override {}
    void send_nat_keepalive(const Endpoint&, const Endpoint&) override {}
};

struct NullSink final : SaSink {
    bool install(const ChildSaInfo&, const ChildSaKeys&) override { return true; }
    void remove(uint32_t, uint32_t) override {}
};

const IkeConfig& config() {
    static const IkeConfig cfg = parse_config(kConfig);
    return cfg;
}

void run_manager(std::span<const uint8_t> in) {
    NullTransport transport;
    NullSink sink;
    IkeManager manager(config(), transport, sink);
    const Endpoint local{0x0a4d0001, 500};
    const Endpoint remote{0x0a4d0002, 500};
    static constexpr uint8_t kMarker[4] = {0xde, 0xad, 0xbe, 0xef};
    for (int i = 0; i < 8 && !in.empty(); ++i) {
        size_t cut = in.size();
        for (size_t j = 0; j + 4 <= in.size(); ++j)
            if (std::memcmp(in.data() + j, kMarker, 4) == 0) {
                cut = j;
                break;
            }
        manager.on_message(local, remote, in.first(cut));
        in = cut + 4 <= in.size() ? in.subspan(cut + 4) : std::span<const uint8_t>{};
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log_set_enabled(false);
    (void)config();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::span<const uint8_t> in(data + 1, size - 1);
    switch (data[0] % 3) {
        case 0: {
            Message m;
            (void)parse_message(in, m);
            break;
        }
        case 1:
            run_manager(in);
            break;
        default:
            try {
                (void)parse_config(std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
            } catch (const std::exception&) {
                // refused with a message: what the parser must do with bad input
            }
            break;
    }
    return 0;
}

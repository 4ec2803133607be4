// libFuzzer target: the espgw-ike configuration file as espgw-ike handles it (issue 7:
// "the config file"). The input is the file's text: parse_config (TOML; [ike], pools,
// [[connections]] with identities, proposals, traffic selectors, EAP and RADIUS,
// fragmentation, [pki] paths); a text that parses is then applied the way `espctl
// reload` applies it (IkeControl::apply) to a running gateway whose pool holds a lease,
// and conn list / pool list render the result. Every answer must be JSON without a raw
// control character. Anything may be refused; nothing may crash, leak or trip UBSan.
// (fuzz_ike's mode 2 parses the text alone; this target goes on from there with its
// own corpus of whole configuration files.)

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/ike/config.hpp"
#include "control/ike/control_commands.hpp"
#include "control/ike/log.hpp"
#include "ike_fixture.hpp"

namespace {

using namespace espgw::ike;
using namespace fuzz_ike;

const char* kLive = R"([ike]
listen = "10.77.0.1"
[pools.rw]
cidr = "10.99.0.0/24"
[pools.lab]
cidr = "10.98.0.0/24"
[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "fuzz-target-psk-0123456789"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
)";

const IkeConfig& live_base() {
    static const IkeConfig c = parse_config(kLive);
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    log_set_enabled(false);
    (void)live_base();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // [pki] and certificate paths are opened as named: keep the fuzzer off device
    // files that never end (an operator's file, not a peer's input).
    for (std::string_view dev : {"/dev", "/proc", "/sys"})
        if (text.find(dev) != std::string_view::npos) return 0;
    IkeConfig next;
    try {
        next = parse_config(text);
    } catch (const std::exception&) {
        return 0;  // refused with a message: what the parser must do with bad input
    }
    IkeConfig live = live_base();
    CaptureTransport tx;
    AcceptSink sink;
    IkeManager manager(live, tx, sink);
    IkeControl control(live, manager, "/nonexistent/espgw-ike.toml");
    if (!manager.pools().at("rw").acquire("alice@example.com")) std::abort();
    std::string why;
    (void)control.apply(std::move(next), &why);
    check_answer(control.answer("conn list"));
    check_answer(control.answer("pool list"));
    return 0;
}

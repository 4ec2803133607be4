#include "control/ike/log.hpp"

#include <cstdio>
#include <ctime>

namespace espgw::ike {

namespace {
bool g_enabled = true;
}

void log_set_enabled(bool enabled) noexcept { g_enabled = enabled; }

void log_line(std::string_view level, std::string_view text) noexcept {
    if (!g_enabled) return;
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &t);
    std::fprintf(stderr, "%s.%03ldZ espgw-ike %.*s: %.*s\n", when, ts.tv_nsec / 1000000,
                 static_cast<int>(level.size()), level.data(), static_cast<int>(text.size()), text.data());
    std::fflush(stderr);
}

}  // namespace espgw::ike

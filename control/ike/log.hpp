#pragma once
// Event log of the control process: one line per event on stderr, with a UTC time
// stamp. Callers put the peer and identity in every line; key material never.

#include <fmt/format.h>

#include <string_view>

namespace espgw::ike {

/// Writes one line. Control thread; never throws.
void log_line(std::string_view level, std::string_view text) noexcept;

/// Turns the event log off (fuzzers, benchmarks) or back on. Not thread-safe: call
/// before the control thread starts.
void log_set_enabled(bool enabled) noexcept;

template <class... A>
void log_info(fmt::format_string<A...> f, A&&... a) {
    log_line("info", fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void log_warn(fmt::format_string<A...> f, A&&... a) {
    log_line("warn", fmt::format(f, std::forward<A>(a)...));
}

}  // namespace espgw::ike

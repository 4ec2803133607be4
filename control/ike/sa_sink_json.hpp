#pragma once
// An SaSink that logs each install/remove (never keys) and appends one JSON object
// per event to a file: {"event":"install","conn":...,"spi_in":"c0ffee01",...}.

#include "control/ike/sa_sink.hpp"

#include <string>

namespace espgw::ike {

class JsonSaSink final : public SaSink {
public:
    /// `path` empty: log only. The file is opened per event (append), so a test can
    /// read it at any time. Write failures are logged, never thrown.
    explicit JsonSaSink(std::string path) : path_(std::move(path)) {}
    bool install(const ChildSaInfo& info, const ChildSaKeys& keys) override;
    void remove(uint32_t spi_in, uint32_t spi_out) override;

private:
    void append(const std::string& line);
    std::string path_;
};

/// The JSON object for `info` (no keys), without a trailing newline.
std::string child_sa_json(const ChildSaInfo& info);

}  // namespace espgw::ike

// Names of the dataplane drop reasons.
#include "dataplane/dp/counters.hpp"

namespace espgw::dp {

std::string_view dp_drop_name(DpDrop r) noexcept {
    switch (r) {
#define ESPGW_X(name, desc) \
    case DpDrop::name:      \
        return #name;
        ESPGW_DP_DROP_REASONS(ESPGW_X)
#undef ESPGW_X
    }
    return "unknown";
}

}  // namespace espgw::dp

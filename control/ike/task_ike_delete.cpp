// INFORMATIONAL Delete that we initiate (RFC 7296 §1.4.1, §3.11):
//   HDR, SK { D(ESP, SPI...) }  -->          (CHILD_SA pairs: our inbound SPIs)
//                       <--  HDR, SK { D(ESP, SPI...) }
//   HDR, SK { D(IKE) }  -->                  (the IKE SA and all its CHILD_SAs)
//                       <--  HDR, SK { }
// The pairs leave the dataplane when the exchange completes (the peer stops sending on
// them first); the IKE SA ends when its Delete is answered or given up on.
#include "control/ike/log.hpp"
#include "control/ike/tasks.hpp"

namespace espgw::ike {

namespace {

class Delete final : public Task {
public:
    Delete(TaskContext& ctx, std::vector<uint32_t> spis, bool uninstalled = false)
        : ctx_(ctx), spis_(std::move(spis)), uninstalled_(uninstalled) {}
    std::string_view name() const noexcept override { return spis_.empty() ? "ike_delete" : "child_delete"; }

    TaskStatus process_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }
    TaskStatus build_r(IkeSa&, Exchange&) override { return TaskStatus::FAILED; }

    TaskStatus build_i(IkeSa& sa, Exchange& ex) override {
        if (spis_.empty()) {
            sa.state = IkeSaState::DELETING;
            ex.response.push_back({PayloadType::DELETE, false, DeletePayload{ProtocolId::IKE, 0, {}}});
            log_info("{}: deleting IKE SA", sa.who());
            return TaskStatus::SUCCESS;
        }
        DeletePayload d{ProtocolId::ESP, 4, {}};
        if (uninstalled_) {
            // HDR, SK { D(ESP, our SPI of the refused pair) }  -->
            const uint32_t in = spis_.front();
            d.spis.push_back(be32_bytes(in));
            ex.response.push_back({PayloadType::DELETE, false, std::move(d)});
            return TaskStatus::SUCCESS;
        }
        std::vector<uint32_t> live;
        for (uint32_t in : spis_) {
            ChildSa* c = sa.child_by_in(in);
            if (!c) continue;  // the peer deleted it meanwhile
            c->deleting = true;
            live.push_back(in);
            d.spis.push_back(be32_bytes(in));
        }
        spis_ = std::move(live);
        if (spis_.empty()) return TaskStatus::FAILED;
        ex.response.push_back({PayloadType::DELETE, false, std::move(d)});
        return TaskStatus::SUCCESS;
    }

    TaskStatus process_i(IkeSa& sa, Exchange& ex) override {
        if (spis_.empty()) {
            ex.delete_ike_sa = true;
            return TaskStatus::SUCCESS;
        }
        if (uninstalled_) {
            log_info("{}: refused CHILD_SA {:08x}_i deleted at the peer", sa.who(), spis_.front());
            return TaskStatus::SUCCESS;
        }
        // §1.4.1: the response names the peer's halves; either way both halves go now.
        for (uint32_t in : spis_) {
            for (auto c = sa.children.begin(); c != sa.children.end(); ++c) {
                if (c->info.spi_in != in) continue;
                ctx_.sink.remove(c->info.spi_in, c->info.spi_out);
                log_info("{}: CHILD_SA {:08x}_i {:08x}_o deleted", sa.who(), c->info.spi_in, c->info.spi_out);
                sa.children.erase(c);
                break;
            }
        }
        return TaskStatus::SUCCESS;
    }

private:
    TaskContext& ctx_;
    std::vector<uint32_t> spis_;  // empty: the IKE SA
    bool uninstalled_ = false;    // spis_[0] was never installed (make_delete_uninstalled)
};

}  // namespace

std::unique_ptr<Task> make_delete_uninstalled(TaskContext& ctx, uint32_t spi_in) {
    return std::make_unique<Delete>(ctx, std::vector<uint32_t>{spi_in}, true);
}

std::unique_ptr<Task> make_delete(TaskContext& ctx, std::vector<uint32_t> spis_in) {
    return std::make_unique<Delete>(ctx, std::move(spis_in));
}

}  // namespace espgw::ike

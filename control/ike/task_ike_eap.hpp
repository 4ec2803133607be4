#pragma once
// IKE_AUTH with EAP, responder side (RFC 7296 §2.16): the rounds after the peer's first
// IKE_AUTH request came without AUTH. IkeAuth (task_ike_auth.cpp) chose the connection,
// created IkeSa::eap and answers the first request with IDr, CERT, AUTH; this task adds
// the EAP payloads and, once EAP succeeded, checks the peer's MSK AUTH and sends ours.
//
//   HDR, SK { IDi, [IDr,] SAi2, TSi, TSr, [CP] }  -->          (IkeAuth keeps SAi2/TSi/TSr/CP)
//                 <--  HDR, SK { IDr, CERT, AUTH, EAP(Request) }
//   HDR, SK { EAP(Response) }  -->
//                 <--  HDR, SK { EAP(Request) }                 (as many rounds as the method needs)
//   HDR, SK { EAP(Response) }  -->
//                 <--  HDR, SK { EAP(Success) }
//   HDR, SK { AUTH }  -->                                        AUTH keyed with the MSK (or SK_pi)
//                 <--  HDR, SK { AUTH, [CP(CFG_REPLY),] SAr2, TSi, TSr }
//
// RFC 5998 EAP-only (connection eap_only, a mutual method: EAP-TLS): the first response
// is { IDr, EAP(Request) } without CERT and AUTH; both MSK AUTHs at the end authenticate.
//
// An EAP-Identity round comes first when the IDi is no usable name (an address, a DN) or
// the connection says eap_identity = "ask". A server answering PENDING (RADIUS) leaves
// the request unanswered until IkeManager::tick polls the result (resume()).
//
// RFC 4739 (connection multiple_auth): the first IKE_AUTH carries the peer's certificate
// AUTH and N(ANOTHER_AUTH_FOLLOWS); we answer IDr, CERT, AUTH; then HDR, SK { IDi } -->
// names the user and the EAP rounds above follow; the final AUTH signs that second IDi.

#include "control/ike/task.hpp"

namespace espgw::ike {

class IkeEap final : public Task {
public:
    explicit IkeEap(TaskContext& ctx) : ctx_(ctx) {}
    std::string_view name() const noexcept override { return "ike_eap"; }

    /// The first round (IkeAuth just created sa.eap): the EAP-Identity Request, or the
    /// server's first Request. Later rounds: the peer's EAP Response, or its final AUTH.
    TaskStatus process_r(IkeSa& sa, Exchange& ex) override;
    /// Our EAP payload, or (final()) our AUTH.
    TaskStatus build_r(IkeSa& sa, Exchange& ex) override;
    /// The server's late answer to a PENDING step (from IkeManager::tick): as process_r.
    TaskStatus resume(IkeSa& sa, Exchange& ex, EapStep step);

    /// The peer's MSK AUTH checked: the stored first request's CP and CHILD_SA are
    /// answered in this exchange.
    bool final() const noexcept { return final_; }
    /// The server answered PENDING: no response now (sa.eap->pending is set).
    bool pending() const noexcept { return pending_; }
    /// Logs why the user's authentication failed, once per conversation.
    static void log_failure(IkeSa& sa, const std::string& why);

private:
    TaskStatus start_server(IkeSa& sa, Exchange& ex, const Identity& idi);
    TaskStatus apply(IkeSa& sa, Exchange& ex, EapStep step);
    TaskStatus fail(IkeSa& sa, Exchange& ex, const std::string& why);

    [[maybe_unused]] TaskContext& ctx_;  // clang: -Wunused-private-field (the fuzz build)
    Bytes out_eap_;
    bool final_ = false;
    bool pending_ = false;
};

}  // namespace espgw::ike

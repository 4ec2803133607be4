#include "control/ike/eap_factory.hpp"

#include "control/ike/eap_mschapv2.hpp"
#include "control/ike/eap_tls.hpp"
#include "control/ike/radius_service.hpp"
#include "control/ike/user_db.hpp"

namespace espgw::ike {

bool is_eap_auth(const std::string& remote_auth) noexcept { return remote_auth.rfind("eap-", 0) == 0; }

bool is_mutual_eap(const std::string& remote_auth) noexcept { return remote_auth == "eap-tls"; }

std::unique_ptr<EapServer> make_eap_server(const TaskContext& ctx, const ConnectionConfig& conn, const IkeSa& sa,
                                           std::string& method, std::string& why) {
    const std::string& a = conn.remote_auth;
    if (ctx.eap_override) {
        method = "EAP-TEST";
        return ctx.eap_override(conn);
    }
    if (a == "eap-mschapv2" || a == "eap-gtc") {
        method = a == "eap-gtc" ? "EAP-GTC" : "EAP-MSCHAPv2";
        if (!ctx.users) {
            why = "no local user database ([ike] users_file)";
            return nullptr;
        }
        return a == "eap-gtc" ? make_eap_gtc(*ctx.users) : make_eap_mschapv2(*ctx.users);
    }
    if (a == "eap-tls") {
        method = "EAP-TLS";
        if (!conn.local_cred || !ctx.config.trust) {
            why = "EAP-TLS needs local_cert/local_key and [pki] cacerts";
            return nullptr;
        }
        EapTlsOptions o;
        o.cred = conn.local_cred;
        o.trust = ctx.config.trust;
        o.users = ctx.users;  // optional: groups, static IP, enabled flag
        o.version_max = conn.eap_tls_version_max;
        try {
            return make_eap_tls(std::move(o));
        } catch (const std::exception& e) {
            why = e.what();
            return nullptr;
        }
    }
    if (a == "eap-radius") {
        method = "EAP-RADIUS";
        if (!ctx.radius) {
            why = "no [radius] servers configured";
            return nullptr;
        }
        return ctx.radius->make_eap_server(conn, sa.local, sa.remote);
    }
    why = "unknown remote_auth '" + a + "'";
    return nullptr;
}

}  // namespace espgw::ike

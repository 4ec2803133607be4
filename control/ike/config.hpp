#pragma once
// espgw-ike configuration (TOML, see config/espgw-ike.example.toml). Loading
// validates everything and throws std::invalid_argument naming the key path; a
// loaded IkeConfig is immutable.

#include "control/ike/address_pool.hpp"
#include "control/ike/algorithms.hpp"
#include "control/ike/config_fragments.hpp"
#include "control/ike/config_radius.hpp"
#include "control/ike/identity.hpp"
#include "control/ike/message.hpp"
#include "control/ike/pki.hpp"
#include "crypto/secret.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace espgw::ike {

struct PoolConfig {
    std::string name;
    std::string cidr;             // IPv4 or IPv6 CIDR or range (address_pool.hpp)
    uint8_t family = 4;           // of cidr: the CP attributes it answers (INTERNAL_IP4/IP6_ADDRESS)
    std::vector<uint32_t> dns4;   // host byte order (dns: INTERNAL_IP4_DNS)
    std::vector<Ip6> dns6;        // dns entries that are IPv6 (INTERNAL_IP6_DNS)
    // Issue 6: groups = [...]: only users in one of these groups (user database or
    // RADIUS Class / Filter-Id) get addresses from this pool; empty: everybody.
    std::vector<std::string> groups;
    // CP attributes beyond the address (config_pool.cpp, RFC 7296 §3.15.1, RFC 8598):
    // nbns (INTERNAL_IP4_NBNS), dns_domain (INTERNAL_DNS_DOMAIN), split_include
    // (INTERNAL_IP4_SUBNET; the CHILD_SA's local TS is narrowed to them), and static
    // per-identity addresses ([pools.X.static]) outside the pool's range.
    std::vector<uint32_t> nbns4;                       // host byte order
    std::vector<std::string> dns_domains;
    std::vector<std::pair<uint32_t, uint32_t>> split_include;  // (network, netmask), host order
    std::map<std::string, PoolAddr> static_ips;        // identity -> address of the pool's family
};

struct ConnectionConfig {
    std::string name;
    Identity local_id;
    Identity remote_id;
    std::shared_ptr<crypto::SecretBytes> psk;
    std::vector<Algorithms> ike_proposals;  // strongest first
    std::vector<Algorithms> esp_proposals;
    std::vector<TrafficSelector> local_ts;
    std::vector<TrafficSelector> remote_ts;  // empty: the peer's virtual IP (or its TSi)
    // pool = "rw" or ["rw", "rw6", ...]: the pools CP addresses come from, in order; per
    // family the first whose groups admit the user (virtual_ip.hpp). Empty: no CP reply.
    std::vector<std::string> pools;
    // Site-to-site initiator (IkeManager::initiate): the peer's IPv4 address (host
    // order; remote_addr, absent: we only wait for the peer) and start_action "start"
    // (initiate at start-up and again after the IKE SA was cleared) or "none".
    std::optional<uint32_t> remote_addr;
    bool start = false;
    // dpd_action (RFC 7296 §2.4): when the peer stops answering, "clear" removes the IKE
    // SA and its CHILD_SAs; "restart" also initiates the connection again (needs
    // remote_addr). Default: "restart" with start_action "start", else "clear".
    bool dpd_restart = false;
    // Certificate authentication (RFC 7296 §2.15, RFC 7427): auth = "psk" (default) or
    // "pubkey"; local_cert/local_key PEM files (RSA or ECDSA), loaded into local_cred.
    // psk is null for "pubkey". A remote_id that is a DN ("C=DE, O=Example, CN=*") is a
    // mask with wildcards matched against the peer certificate's subject (remote_dn_mask, DER).
    std::string auth = "psk";
    std::string local_cert;
    std::string local_key;
    std::shared_ptr<const LocalCredential> local_cred;
    // RADIUS NAS-Identifier of this connection's EAP-RADIUS users (RFC 2865 §5.32);
    // empty: [radius] nas_identifier.
    std::string nas_identifier;
    // EAP user authentication (RFC 7296 §2.16) after our certificate: remote_auth
    // "eap-mschapv2" / "eap-gtc" (local users, [ike] users_file) or "eap-radius"; empty:
    // the peer authenticates like we do (auth). eap_identity = "ask": always run an
    // EAP-Identity round; "ike" (default): use the IKE identity when it is a name.
    std::string remote_auth;
    bool eap_identity_ask = false;
    // remote_auth "eap-tls" (RFC 5216 / RFC 9190): the user's client certificate in TLS,
    // verified against [pki]; eap_tls_version_max "1.3" (default) or "1.2" caps the TLS
    // version (strongSwan before 5.9.10 speaks EAP-TLS only up to 1.2). eap_only = true
    // (RFC 5998): when the peer sends N(EAP_ONLY_AUTHENTICATION) and the method is
    // mutual (EAP-TLS), our first response carries no CERT and no AUTH.
    uint16_t eap_tls_version_max = 0x0304;
    bool eap_only = false;
    // multiple_auth = true (RFC 4739): the peer first authenticates with its certificate
    // (as for auth = "pubkey": [pki], remote_id / DN mask), then its user with remote_auth.
    // Without it, EAP alone authenticates the peer.
    bool multiple_auth = false;
    Bytes remote_dn_mask;
    // mode = "tunnel" (default) | "transport" (RFC 7296 §1.3.1): the IPsec mode of this
    // connection's CHILD_SAs. Transport protects the traffic of the two IKE endpoints
    // themselves (host-to-host selectors, §2.23.1 substitution behind a NAT): as initiator
    // we send N(USE_TRANSPORT_MODE) and delete a CHILD_SA the responder made in tunnel
    // mode; as responder we agree to transport only here, else answer tunnel. No virtual
    // IPs (pool) with transport: they need a tunnel.
    ChildMode mode = ChildMode::tunnel;
};

struct IkeConfig {
    std::string listen_addr = "0.0.0.0";
    uint16_t port = 500;
    uint16_t natt_port = 4500;
    std::string sa_output;  // JSON-lines file the logging SaSink appends to; empty: none
    std::string control_group = "root";  // [ike] control_group: group of the CLI socket (mode 0660)
    std::string lease_file;              // [ike] lease_file: persisted virtual-IP leases; empty: none
    std::string users_file;              // [ike] users_file: the local user database (UserDb); empty: none
    std::string users_key_file;          // [ike] users_key_file: its sealing key (default users_file + ".key")
    std::vector<ConnectionConfig> connections;
    std::map<std::string, PoolConfig> pools;
    // [pki] cacerts (PEM files or directories), crls (PEM/DER files or directories),
    // crl_strict (refuse a peer whose issuer has no current CRL). trust is the loaded store
    // (null when no connection uses "pubkey" and no [pki] table is present).
    std::vector<std::string> pki_cacerts;
    std::vector<std::string> pki_crls;
    bool crl_strict = false;
    std::shared_ptr<const TrustStore> trust;
    // [radius]: servers for EAP-RADIUS connections and accounting (config_radius.hpp).
    std::optional<RadiusConfig> radius;
    // [ike] fragmentation / fragment_size: IKE fragmentation (RFC 7383).
    FragmentationConfig fragmentation;

    // IKE SA lifecycle ([ike] keys, seconds; 0 switches a timer off). RFC 7296 §2.1,
    // §2.4 (retransmission, liveness), §2.6 (cookies), §2.8 (rekey); RFC 3948 §2.3.
    uint32_t child_rekey_time_s = 3600;   // rekey_time: we rekey a CHILD_SA this long after it was made
    uint32_t child_life_time_s = 3960;    // life_time: hard lifetime, the CHILD_SA is deleted
    uint32_t dpd_delay_s = 30;            // dpd_delay: liveness check after this much silence
    double retransmit_timeout_s = 4.0;    // retransmit_timeout: first retransmission of our request
    double retransmit_base = 1.8;         // retransmit_base: back-off factor per retransmission
    uint32_t retransmit_tries = 5;        // retransmit_tries: then the IKE SA is deleted (DPD action clear)
    uint32_t keepalive_s = 20;            // keepalive: NAT keepalives toward peers behind a NAT
    uint32_t cookie_threshold = 64;       // cookie_threshold: half-open IKE SAs before COOKIEs are demanded
    uint32_t cookie_secret_s = 120;       // cookie_secret_time: how often the cookie secret changes
    uint32_t half_open_timeout_s = 30;    // half_open_timeout: an unfinished IKE SA is dropped
    // legacy_algorithms: 3DES and DH groups 2/5 (MODP_1024/1536) in IKE proposals, for
    // legacy clients only; refused in the configuration otherwise; a warning is logged at
    // start-up and for every IKE SA that negotiates them.
    bool legacy_algorithms = false;
    uint32_t restart_grace_s = 60;        // restart_grace: SAs a killed espgw-ike left in the dataplane keep
                                          // forwarding this long (or until a new CHILD_SA), then are removed
                                          // so the peers' DPD re-establishes
};

/// Parses TOML text. Throws std::invalid_argument("connections[0].psk: ...") style errors.
IkeConfig parse_config(std::string_view toml_text);
/// Reads and parses a file; also throws for an unreadable file.
IkeConfig load_config(const std::string& path);

}  // namespace espgw::ike

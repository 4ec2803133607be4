#!/usr/bin/python3
"""strongSwan 5.9 road warriors log in with EAP-TLS (RFC 5216) through the whole appliance,
with and without RFC 5998 EAP-only authentication; EAP-MSCHAPv2 failures end with the
MS-CHAPv2 Failure Request (issue 6).

    etls-rw                       etls-gw                                     etls-lan
    charon (kernel-libipsec)      espgw-dp (net_af_packet)                    10.78.0.2
    192.0.2.2  etls-r0 ========== etls-go (outside)  (inside) etls-gi ======= etls-l0
                                  192.0.2.1           10.78.0.1
                                  espgw-ike --dataplane (users_file, [pki])

The gateway's certificate, alice's client certificate and a second "alice" certificate
from a CA the gateway does not trust are made with strongSwan's `pki`. strongSwan 5.9.8
speaks EAP-TLS up to TLS 1.2 (its RFC 9190 support came in 5.9.10), so the TLS 1.3 path
is proven by the unit tests against OpenSSL (test_ike_eap_tls.cpp). Cases: EAP-TLS after
our certificate AUTH gets a pool address, the user's groups, and pings the lan host
through espgw-dp; EAP-only (the road warrior's remote auth = eap-tls) gets no CERT/AUTH
from us and still pings; the untrusted-CA certificate is refused with the reason in
espgw-ike's log; an MSCHAPv2 wrong password gets "E=691" at the road warrior and "bad
password" in the log; counters; no password in the log. Prints TESTCASE lines; exits 1 if
any case failed. A daemon or charon that fails to start is a FAIL.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import appliance
import nsnet
import swan

dc = appliance.dc
IKE_BIN, DP_BIN, ESPCTL = appliance.IKE_BIN, appliance.DP_BIN, appliance.ESPCTL
TOPO = appliance.Topology("etls", nat=False)
RW = TOPO.rw
POOL = "10.99.7."
BOB_PW = "B0b-mschap-pw-7e21"
WRONG_PW = "not-bobs-password-99"
result = nsnet.Results()
sh = nsnet.sh

def ike_config(d):
    conn = f"""auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
"""
    return f"""[ike]
listen = "192.0.2.1"
dpd_delay = 0
users_file = "{d}/users.toml"
users_key_file = "{d}/users.key"

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "{POOL}0/24"

[[connections]]
name = "rw-mschap"
remote_id = "bob@example.com"
remote_auth = "eap-mschapv2"
{conn}
[[connections]]
name = "rw-tls"
remote_id = "%any"
remote_auth = "eap-tls"
{conn}
[[connections]]
name = "rw-tls-only"
remote_id = "%any"
remote_auth = "eap-tls"
eap_only = true
{conn.replace('local_id = "gw.example.com"', 'local_id = "vpn.example.com"')}"""


def make_pki(d):
    def pki(args, out):
        sh(f"cd {d} && pki {args} > {out} 2>/dev/null")
    pki("--gen --type ecdsa --size 256 --outform pem", "ca.key")
    pki("--self --ca --in ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem", "ca.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "gw.key")
    pki("--issue --cacert ca.pem --cakey ca.key --type priv --in gw.key --dn 'C=DE, O=Example, CN=gw.example.com' "
        "--san gw.example.com --san vpn.example.com --flag serverAuth --outform pem", "gw.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "alice.key")
    pki("--issue --cacert ca.pem --cakey ca.key --type priv --in alice.key --dn 'C=DE, O=Example, CN=alice' "
        "--san alice@example.com --flag clientAuth --outform pem", "alice.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "evil.key")
    pki("--self --ca --in evil.key --type ecdsa --dn 'C=DE, O=Evil, CN=Evil CA' --outform pem", "evil.pem")
    pki("--issue --cacert evil.pem --cakey evil.key --type priv --in alice.key --dn 'C=DE, O=Example, CN=alice' "
        "--san alice@example.com --flag clientAuth --outform pem", "alice-evil.pem")


def swanctl_conf(rwdir, d, case):
    """swanctl.conf for one case: "tls" (EAP-TLS after our certificate), "tls-only"
    (EAP-only: the gateway authenticates inside EAP-TLS), "evil" (untrusted client
    certificate), "mschap" (EAP-MSCHAPv2 with the wrong password)."""
    if case == "mschap":
        local = "auth = eap-mschapv2\n      id = bob@example.com"
        secrets = f'secrets {{\n  eap-bob {{\n    id = bob@example.com\n    secret = "{WRONG_PW}"\n  }}\n}}\n'
    else:
        cert = "alice-evil.pem" if case == "evil" else "alice.pem"
        local = f"auth = eap-tls\n      certs = {d}/{cert}\n      id = alice@example.com"
        secrets = ""
        shutil.copy(os.path.join(d, "alice.key"), os.path.join(rwdir, "ecdsa", "alice.key"))
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(rwdir, "x509ca", "ca.pem"))
    # EAP-only is the gateway's choice per connection (eap_only): the road warrior asks
    # for it by naming vpn.example.com, whose connection allows it; strongSwan's remote
    # auth must then be eap-tls, else its constraints refuse the gateway.
    remote_auth, remote_id = ("eap-tls", "vpn.example.com") if case == "tls-only" else ("pubkey", "gw.example.com")
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = 192.0.2.1
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    send_certreq = no
    local {{
      {local}
    }}
    remote {{
      auth = {remote_auth}
      id = {remote_id}
    }}
    children {{
      net {{
        remote_ts = 10.78.0.0/24
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
{secrets}""")
    return path


def text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def ctl(sock, *args, stdin=""):
    p = subprocess.run([ESPCTL, "--ike-socket", sock] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stdout + p.stderr


def ping(src, count=3):
    p = sh(f"ip netns exec {RW} ping -c {count} -i 0.2 -W 2 -I {src} 10.78.0.2", check=False, timeout=20)
    return p.returncode == 0, ((p.stdout + p.stderr).strip().splitlines() or [""])[-1]


def run_case(name, case, rwdir, d, sock, gw_log):
    conf = swanctl_conf(rwdir, d, case)
    r = swan.swanctl(RW, rwdir, f"--load-all --noprompt --clear --file {conf}")
    if r.returncode != 0:
        result(False, name, f"swanctl --load-all: {(r.stderr or r.stdout).strip()[-200:]}")
        return
    gw_before = len(text(gw_log))
    rw_before = len(text(os.path.join(rwdir, "charon.log")))
    r = swan.swanctl(RW, rwdir, "--initiate --child net --timeout 10", timeout=25)
    ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
    time.sleep(0.2)
    gw_new = text(gw_log)[gw_before:]
    rw_new = text(os.path.join(rwdir, "charon.log"))[rw_before:]
    why = ""
    if case in ("tls", "tls-only"):
        m_vip = re.search(r"local\s+'alice@example.com' @ \S+ \[([0-9.]+)\]", ls)
        if r.returncode != 0 or "ESTABLISHED" not in ls or "INSTALLED" not in ls or not m_vip:
            why = "not established: " + " | ".join((r.stdout or "").strip().splitlines()[-3:])[-300:]
        elif not m_vip.group(1).startswith(POOL):
            why = f"virtual IP {m_vip.group(1)} not from the pool"
        elif "user alice authenticated with EAP-TLS from peer 192.0.2.2" not in gw_new:
            why = f"espgw-ike log lacks the EAP-TLS user line: {gw_new.strip()[-400:]}"
        elif "groups staff" not in gw_new:
            why = "the user database's groups were not applied"
        elif case == "tls-only" and not ("EAP-only" in gw_new and "allow mutual EAP-only authentication" in rw_new):
            why = (f"EAP-only not used: gw {'EAP-only' in gw_new}, strongSwan "
                   f"{'allow mutual EAP-only' in rw_new}: {rw_new.strip()[-300:]}")
        elif case == "tls" and "authentication of 'gw.example.com' with ECDSA" not in rw_new:
            why = "strongSwan did not verify our certificate AUTH before EAP"
        else:
            time.sleep(0.3)  # espgw-dp publishes the SPD within 100 ms
            ok, last = ping(m_vip.group(1))
            if not ok:
                why = f"ping through espgw-dp failed: {last}"
    else:
        expect = {"evil": "refused: untrusted CA", "mschap": "user bob@example.com failed: bad password"}[case]
        peer_saw = {"evil": "TLS", "mschap": "EAP-MS-CHAPv2 failed with error"}[case]
        if r.returncode == 0 or "ESTABLISHED" in ls:
            why = "established although it must be refused"
        elif expect not in gw_new:
            why = f"espgw-ike log lacks '{expect}': {gw_new.strip()[-400:]}"
        elif peer_saw not in rw_new:
            why = f"strongSwan's log lacks '{peer_saw}': {rw_new.strip()[-400:]}"
        elif case == "mschap" and "E=691" not in rw_new and "ERROR_AUTHENTICATION_FAILURE" not in rw_new:
            why = f"strongSwan did not see E=691: {rw_new.strip()[-300:]}"
    if why and os.environ.get("ETLS_DEBUG"):
        print(ls, gw_new, rw_new[-4000:], file=sys.stderr)
    result(not why, name, why)
    swan.swanctl(RW, rwdir, "--terminate --ike gw --force --timeout 3")
    time.sleep(0.2)


def main():
    if os.geteuid() != 0:
        result(False, "eaptls_setup", "needs root")
        return
    for b in (IKE_BIN, DP_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "eaptls_setup", f"{b} not built")
            return
    if not os.path.exists("/usr/lib/ipsec/plugins/libstrongswan-eap-tls.so"):
        result(False, "eaptls_setup", "strongSwan eap-tls plugin missing (libcharon-extra-plugins)")
        return
    tmp = tempfile.mkdtemp(prefix="etls-")
    procs = dc.Procs()
    try:
        TOPO.setup()
        make_pki(tmp)
        daemons = appliance.Daemons(TOPO, tmp, procs)
        why = daemons.start(ike_config(tmp))
        if why:
            result(False, "eaptls_appliance_start", why)
            return
        dp, ike, sock, gw_log = daemons.dp, daemons.ike, daemons.ctl, daemons.ike_log
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        for args, pw in ((("user", "add", "alice", "--email", "alice@example.com", "--groups", "staff"), "unused-pw-1"),
                         (("user", "add", "bob", "--email", "bob@example.com"), BOB_PW)):
            rc, out = ctl(sock, *args, "--password-stdin", stdin=pw + "\n")
            if rc != 0:
                result(False, "eaptls_users", f"espctl {' '.join(args)}: rc {rc}: {out.strip()[-200:]}")
                return
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        swan.PLUGINS += " eap-identity eap-tls eap-mschapv2"
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir))
        procs.procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, "eaptls_strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        run_case("eaptls_login_virtual_ip_ping_through_dp", "tls", rwdir, tmp, sock, gw_log)
        run_case("eaptls_eap_only_rfc5998_ping_through_dp", "tls-only", rwdir, tmp, sock, gw_log)
        run_case("eaptls_untrusted_ca_refused_reason_logged", "evil", rwdir, tmp, sock, gw_log)
        run_case("mschapv2_wrong_password_failure_request", "mschap", rwdir, tmp, sock, gw_log)
        rc, out = ctl(sock, "--json", "show", "ike", "counters")
        c = json.loads(out) if rc == 0 else {}
        t = c.get("eap_tls", {})
        result(c.get("eap_successes") == 2 and c.get("eap_failures") == 2 and t.get("succeeded") == 2 and
               t.get("cert_refused") == 1 and t.get("tls12") == 2, "eaptls_counters",
               f"rc {rc}: {out.strip()[-400:]}")
        log = text(gw_log)
        result(BOB_PW not in log and WRONG_PW not in log, "eaptls_log_has_no_password", "a password is in the log")
        result(dp.poll() is None and ike.poll() is None, "eaptls_daemons_alive_at_end",
               f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "eaptls_testbed", repr(e))
    finally:
        procs.stop_all()
        TOPO.cleanup()
        if os.environ.get("ETLS_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

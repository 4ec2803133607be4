#!/usr/bin/python3
"""strongSwan 5.9 road warriors authenticating users with EAP-MSCHAPv2 against
espgw-ike's local user database (issue 6; RFC 7296 §2.16, RFC 2759, RFC 3079 MSK).

Netns h1-eap-gw (espgw-ike over kernel UDP sockets, 10.81.0.1) and h1-eap-rw (charon
with kernel-libipsec, eap-identity and eap-mschapv2, 10.81.0.2). The gateway
authenticates by certificate (a test PKI made with strongSwan's `pki`); the users are
created through espctl over the control socket. Cases: a user with the IKE identity as
EAP identity gets a pool address; a user behind an address identity (EAP-Identity
round) gets its static IP; a disabled user, a wrong password and an unknown user are
refused with the MS-CHAPv2 Failure Request (E=647 / E=691, seen by strongSwan) and the
reason in espgw-ike's log; a road warrior
with a certificate then EAP (RFC 4739 multiple authentication) gets its address; an
EAP-GTC user (no MSK: AUTH keyed with SK_pi/SK_pr) named by its e-mail gets in; the log
never holds a password. Prints TESTCASE lines; exits 1 if any case failed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import nsnet
import swan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.environ.get("H1_IKE_BIN") or os.path.join(BUILD, "control", "espgw-ike")
ESPCTL = os.path.join(BUILD, "control", "espctl")
GW, RW = "h1-eap-gw", "h1-eap-rw"
GW_IP, RW_IP = "10.81.0.1", "10.81.0.2"
POOL = "10.99.9."
PW = {"alice": "Alice-pw-3f9d!", "bob": "b0b-S3cret-ä", "carol": "carol-pw-77aa"}
WRONG_PW = "not-alice-pw-1234"

result = nsnet.Results()
sh = nsnet.sh

# name, IKE identity (None: the address), EAP identity, password, established?,
# expected virtual IP prefix / log reason; "cert+" names: certificate round first (RFC 4739)
CASES = [
    ("eap_after_certificate_rfc4739", "cert+alice", "alice", PW["alice"], True, POOL),
    ("eap_gtc_email_identity_no_msk", "gtc+alice@example.com", "alice@example.com", PW["alice"], True, POOL),
    ("eap_mschapv2_pool_ip", "alice", "alice", PW["alice"], True, POOL),
    ("eap_identity_round_static_ip", None, "bob", PW["bob"], True, "10.98.0.7"),
    ("eap_disabled_user_refused", "carol", "carol", PW["carol"], False, "user carol failed: user disabled"),
    ("eap_bad_password_refused", "alice", "alice", WRONG_PW, False, "user alice failed: bad password"),
    ("eap_unknown_user_refused", None, "dave", "dave-pw-000000", False, "user dave failed: unknown user"),
]


def peer_error(reason):
    """The MS-CHAPv2 error strongSwan names for our Failure Request (E=647 / E=691)."""
    return "ERROR_ACCT_DISABLED" if "disabled" in reason else "ERROR_AUTHENTICATION_FAILURE"


def file_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def make_pki(d):
    def pki(args, out):
        sh(f"pki {args} > {d}/{out} 2>/dev/null")
    pki("--gen --type ecdsa --size 256 --outform pem", "ca.key")
    pki(f"--self --ca --in {d}/ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem", "ca.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "gw.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/gw.key "
        f"--dn 'C=DE, O=Example, CN=gw.example.com' --san gw.example.com --outform pem", "gw.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "rw.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/rw.key "
        f"--dn 'C=DE, O=Example, CN=rw.example.com' --san rw.example.com --outform pem", "rw.pem")


def write_gw_config(d):
    path = os.path.join(d, "espgw-ike.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
users_file = "{d}/users.toml"
users_key_file = "{d}/users.key"

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "{POOL}0/24"

[[connections]]
name = "rw-gtc"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "alice@example.com"
remote_auth = "eap-gtc"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.80.0.0/24"]
pool = "rw"

[[connections]]
name = "rw-eap"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_auth = "eap-mschapv2"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.80.0.0/24"]
pool = "rw"

[[connections]]
name = "rw-cert-eap"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "C=DE, O=Example, CN=*"
remote_auth = "eap-mschapv2"
multiple_auth = true
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.80.0.0/24"]
pool = "rw"
""")
    return path


def write_swanctl(rwdir, d, ike_id, eap_id, password):
    path = os.path.join(rwdir, "swanctl.conf")
    if ike_id and ike_id.startswith("cert+"):
        # RFC 4739: round 1 with the certificate, round 2 the user with EAP.
        local = f"""local-1 {{
      auth = pubkey
      certs = {d}/rw.pem
      id = rw.example.com
    }}
    local-2 {{
      auth = eap-mschapv2
      id = {ike_id[5:]}
      eap_id = {eap_id}
    }}"""
        shutil.copy(os.path.join(d, "rw.key"), os.path.join(rwdir, "ecdsa", "rw.key"))
    else:
        method = "eap-mschapv2"
        if ike_id and ike_id.startswith("gtc+"):
            method, ike_id = "eap-gtc", ike_id[4:]
        id_line = f"id = {ike_id}" if ike_id else ""
        local = f"""local {{
      auth = {method}
      {id_line}
      eap_id = {eap_id}
    }}"""
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {GW_IP}
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    {local}
    remote {{
      auth = pubkey
      id = gw.example.com
      cacerts = {d}/ca.pem
    }}
    children {{
      net {{
        remote_ts = 10.80.0.0/24
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  eap-user {{
    id = {eap_id}
    secret = "{password}"
  }}
}}
""")
    return path


def ctl(sock, *args, stdin=""):
    p = subprocess.run([ESPCTL, "--ike-socket", sock] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stdout + p.stderr


def add_users(sock):
    for args, pw in ((("user", "add", "alice", "--email", "alice@example.com", "--groups", "staff"), PW["alice"]),
                     (("user", "add", "bob", "--static-ip", "10.98.0.7", "--groups", "ops"), PW["bob"]),
                     (("user", "add", "carol", "--disabled"), PW["carol"])):
        rc, out = ctl(sock, *args, "--password-stdin", stdin=pw + "\n")
        if rc != 0:
            return f"espctl {' '.join(args)}: rc {rc}: {out.strip()[-200:]}"
    return ""


def main():
    if os.geteuid() != 0:
        result(False, "ike_eap_setup", "needs root for network namespaces")
        return
    for b in (IKE_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_eap_setup", f"{b} not built")
            return
    if not os.path.exists("/usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so"):
        result(False, "ike_eap_setup", "strongSwan eap-mschapv2 plugin missing (libcharon-extauth-plugins)")
        return
    tmp = tempfile.mkdtemp(prefix="h1-eap-")
    gw = charon = None
    try:
        nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "h1e")
        make_pki(tmp)
        gw_log = os.path.join(tmp, "espgw-ike.log")
        sock = os.path.join(tmp, "ike.sock")
        gw = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_gw_config(tmp), "--control-socket",
                               sock], stdout=open(gw_log, "w"), stderr=subprocess.STDOUT)
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        swan.PLUGINS += " eap-identity eap-mschapv2 eap-gtc"
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir))
        for _ in range(100):
            if gw.poll() is not None or (os.path.exists(sock) and ctl(sock, "user", "list")[0] == 0):
                break
            time.sleep(0.05)
        if not swan.charon_ready(charon, rwdir) or gw.poll() is not None:
            why = (f"espgw-ike exited: {file_text(gw_log)[-300:]}" if gw.poll() is not None
                   else f"strongSwan charon failed to start (rc {charon.poll()})")
            for c in CASES:
                result(False, c[0], why)
            return
        why = add_users(sock)
        if why:
            for c in CASES:
                result(False, c[0], why)
            return
        for name, ike_id, eap_id, password, good, expect in CASES:
            conf = write_swanctl(rwdir, tmp, ike_id, eap_id, password)
            r = swan.swanctl(RW, rwdir, f"--load-all --noprompt --clear --file {conf}")
            if r.returncode != 0:
                result(False, name, f"swanctl --load-all failed: {(r.stderr or r.stdout).strip()[-200:]}")
                continue
            log_before = len(file_text(gw_log))
            rw_log_before = len(file_text(os.path.join(rwdir, "charon.log")))
            r = swan.swanctl(RW, rwdir, "--initiate --child net --timeout 10")
            ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
            log_new = file_text(gw_log)[log_before:]
            rw_new = file_text(os.path.join(rwdir, "charon.log"))[rw_log_before:]
            why = ""
            user = eap_id.split("@")[0]
            method = "EAP-GTC" if ike_id and ike_id.startswith("gtc+") else "EAP-MSCHAPv2"
            if good:
                m_vip = re.search(r"local\s+'[^']*' @ \S+ \[([0-9.]+)\]", ls)
                if r.returncode != 0 or "ESTABLISHED" not in ls or "INSTALLED" not in ls:
                    why = "not established: " + " | ".join((r.stdout or "").strip().splitlines()[-3:])[-300:]
                elif not m_vip or not m_vip.group(1).startswith(expect):
                    why = f"virtual IP {m_vip.group(1) if m_vip else None} is not {expect}*"
                elif f"user {user} authenticated with {method} from peer {RW_IP}" not in log_new:
                    why = f"espgw-ike log lacks the user line: {log_new.strip()[-300:]}"
                elif ike_id and ike_id.startswith("cert+") and not (
                        "authenticated with certificate" in log_new and "rw-cert-eap" in log_new):
                    why = f"espgw-ike did not check the certificate round first: {log_new.strip()[-300:]}"
                elif "with EAP successful" not in rw_new:
                    why = "strongSwan did not log the EAP-authenticated gateway (MSK AUTH)"
                else:
                    rc, out = ctl(sock, "--json", "show", "users")
                    users = json.loads(out) if rc == 0 else []
                    if not any(u.get("user") == user and u.get("auth") == method and
                               u.get("virtual_ip", "").startswith(expect) for u in users):
                        why = f"espctl show users lacks user {eap_id}: rc {rc} {out.strip()[-300:]}"
            else:
                if r.returncode == 0 or "ESTABLISHED" in ls:
                    why = "established although it must be refused"
                elif expect not in log_new:
                    why = f"espgw-ike log lacks '{expect}': {log_new.strip()[-300:]}"
                elif f"EAP-MS-CHAPv2 failed with error {peer_error(expect)}" not in rw_new:
                    # RFC 2759 §6: the MS-CHAPv2 Failure Request reached the road warrior.
                    why = f"strongSwan did not see the Failure Request with {peer_error(expect)}"
            if why and os.environ.get("H1_EAP_DEBUG"):
                print(ls, log_new, rw_new[-3000:], file=sys.stderr)
            result(not why, name, why)
            swan.swanctl(RW, rwdir, "--terminate --ike gw --force --timeout 3")
            time.sleep(0.1)
        rc, out = ctl(sock, "--json", "show", "ike", "counters")
        counters = json.loads(out) if rc == 0 else {}
        good = sum(1 for c in CASES if c[4])
        result(counters.get("eap_successes") == good and counters.get("eap_failures") == len(CASES) - good,
               "eap_counters", f"rc {rc}: {out.strip()[-300:]}")
        log = file_text(gw_log)
        leaked = [u for u, pw in list(PW.items()) + [("wrong", WRONG_PW)] if pw in log]
        result(not leaked, "eap_log_has_no_password", f"passwords of {leaked} in the log")
    except subprocess.CalledProcessError as e:
        result(False, "ike_eap_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    except subprocess.TimeoutExpired as e:
        result(False, "ike_eap_setup", f"timeout: {e.cmd}")
    finally:
        for p in (charon, gw):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        nsnet.cleanup(GW, RW)
        if os.environ.get("H1_EAP_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

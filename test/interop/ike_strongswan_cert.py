#!/usr/bin/python3
"""espgw-ike authenticating strongSwan 5.9 road warriors with X.509 certificates.

Netns eikc-gw (espgw-ike, kernel sockets, 10.79.0.1) and eikc-rw (charon with
kernel-libipsec, 10.79.0.2). A test PKI is made with strongSwan's `pki` tool in a
temp dir: CA (ECDSA), gateway cert (ECDSA, SAN gw.example.com), road warriors with an
ECDSA and an RSA cert, one from an untrusted CA, one revoked by the CA's CRL, one with
a subject outside espgw-ike's DN mask "C=DE, O=Example, CN=*". The good ones must be
ESTABLISHED with a virtual IP; the others refused with the reason in espgw-ike's log.
Prints TESTCASE lines; exits 1 if any case failed.
"""
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
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
GW, RW = "eikc-gw", "eikc-rw"
GW_IP, RW_IP = "10.79.0.1", "10.79.0.2"

# name, key type, issuing CA, DN, SAN/ID, expect established, reason expected in the log
CASES = [
    ("cert_ecdsa_established", "ecdsa", "ca", "C=DE, O=Example, CN=rw-ec.example.com", "rw-ec.example.com", True, ""),
    ("cert_rsa_established", "rsa", "ca", "C=DE, O=Example, CN=rw-rsa.example.com", "rw-rsa.example.com", True, ""),
    ("cert_untrusted_ca_refused", "ecdsa", "evil", "C=DE, O=Example, CN=rw-evil.example.com", "rw-evil.example.com",
     False, "untrusted CA"),
    ("cert_revoked_refused", "ecdsa", "ca", "C=DE, O=Example, CN=rw-rev.example.com", "rw-rev.example.com", False,
     "revoked"),
    ("cert_wrong_identity_refused", "ecdsa", "ca", "C=DE, O=Other, CN=rw-other.example.com", "rw-other.example.com",
     False, "identity mismatch"),
]


result = nsnet.Results()
sh = nsnet.sh


def cleanup():
    nsnet.cleanup(GW, RW)


def setup_net():
    nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "eikc")


def make_pki(d):
    def pki(args, out):
        sh(f"pki {args} > {d}/{out} 2>/dev/null")
    for ca, dn in (("ca", "C=DE, O=Example, CN=Example CA"), ("evil", "C=DE, O=Evil, CN=Evil CA")):
        pki("--gen --type ecdsa --size 256 --outform pem", f"{ca}.key")
        pki(f"--self --ca --in {d}/{ca}.key --type ecdsa --dn '{dn}' --outform pem", f"{ca}.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "gw.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/gw.key "
        f"--dn 'C=DE, O=Example, CN=gw.example.com' --san gw.example.com --outform pem", "gw.pem")
    for name, kt, ca, dn, san, _, _ in CASES:
        pki(f"--gen --type {kt} --size {2048 if kt == 'rsa' else 256} --outform pem", f"{name}.key")
        pki(f"--issue --cacert {d}/{ca}.pem --cakey {d}/{ca}.key --type priv --in {d}/{name}.key "
            f"--dn '{dn}' --san {san} --outform pem", f"{name}.pem")
    pki(f"--signcrl --cacert {d}/ca.pem --cakey {d}/ca.key --cert {d}/cert_revoked_refused.pem "
        "--reason key-compromise --outform pem", "crl.pem")


def write_gw_config(d):
    path = os.path.join(d, "espgw-ike.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
sa_output = "{d}/sas.jsonl"

[pki]
cacerts = ["{d}/ca.pem"]
crls = ["{d}/crl.pem"]
crl_strict = true

[pools.rw]
cidr = "10.99.9.0/24"

[[connections]]
name = "rw-cert"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "C=DE, O=Example, CN=*"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.80.0.0/24"]
pool = "rw"
""")
    return path


def write_swanctl(rwdir, d, name, kt, san):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {GW_IP}
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    send_cert = always
    mobike = no
    local {{
      auth = pubkey
      certs = {d}/{name}.pem
      id = {san}
    }}
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
""")
    # swanctl loads private keys from the ecdsa/ and rsa/ folders beside its config.
    for sub in ("ecdsa", "rsa"):
        for old in os.listdir(os.path.join(rwdir, sub)):
            os.unlink(os.path.join(rwdir, sub, old))
    shutil.copy(os.path.join(d, f"{name}.key"), os.path.join(rwdir, kt, f"{name}.key"))
    return path


def swanctl(rwdir, args, timeout=20):
    cmd, _, rest = args.partition(" ")
    return sh(f"ip netns exec {RW} swanctl {cmd} --uri unix://{rwdir}/charon.vici {rest}", check=False,
              timeout=timeout)


def file_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main():
    if os.geteuid() != 0:
        result(False, "ike_cert_setup", "needs root for network namespaces")
        return
    if not os.access(IKE_BIN, os.X_OK):
        result(False, "ike_cert_setup", f"{IKE_BIN} not built")
        return
    tmp = tempfile.mkdtemp(prefix="eikc-")
    gw = charon = None
    try:
        setup_net()
        make_pki(tmp)
        gw_log = os.path.join(tmp, "espgw-ike.log")
        gw = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_gw_config(tmp)],
                              stdout=open(gw_log, "w"), stderr=subprocess.STDOUT)
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir))
        time.sleep(0.3)
        if not swan.charon_ready(charon, rwdir) or gw.poll() is not None:
            why = (f"espgw-ike exited: {file_text(gw_log)[-200:]}" if gw.poll() is not None
                   else f"strongSwan charon failed to start (rc {charon.poll()})")
            for c in CASES:
                result(False, c[0], why)
            return
        for name, kt, _, _, san, good, reason in CASES:
            conf = write_swanctl(rwdir, tmp, name, kt, san)
            r = swanctl(rwdir, f"--load-all --noprompt --clear --file {conf}")
            if r.returncode != 0:
                result(False, name, f"swanctl --load-all failed: {(r.stderr or r.stdout).strip()[-200:]}")
                continue
            log_before = len(file_text(gw_log))
            r = swanctl(rwdir, "--initiate --child net --timeout 10")
            ls = swanctl(rwdir, "--list-sas").stdout
            log_new = file_text(gw_log)[log_before:]
            why = ""
            if good:
                m_vip = re.search(rf"local\s+'{re.escape(san)}' @ \S+ \[([0-9.]+)\]", ls)
                if r.returncode != 0 or "ESTABLISHED" not in ls or "INSTALLED" not in ls:
                    why = "not established: " + " | ".join((r.stdout or "").strip().splitlines()[-3:])[-300:]
                elif not m_vip or not m_vip.group(1).startswith("10.99.9."):
                    why = "no virtual IP from pool 10.99.9.0/24"
                elif "authenticated with certificate" not in log_new:
                    why = "espgw-ike log has no certificate authentication line"
            else:
                if r.returncode == 0 or "ESTABLISHED" in ls:
                    why = "established although it must be refused"
                elif f"refused: {reason}" not in log_new:
                    why = f"espgw-ike log lacks 'refused: {reason}': {log_new.strip()[-300:]}"
                elif "AUTHENTICATION_FAILED" not in file_text(os.path.join(rwdir, "charon.log")):
                    why = "strongSwan did not receive AUTHENTICATION_FAILED"
            if why and os.environ.get("EIKC_DEBUG"):
                print(ls, log_new, file=sys.stderr)
            result(not why, name, why)
            swanctl(rwdir, "--terminate --ike gw --force --timeout 3")
            time.sleep(0.1)
    except subprocess.CalledProcessError as e:
        result(False, "ike_cert_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    except subprocess.TimeoutExpired as e:
        result(False, "ike_cert_setup", f"timeout: {e.cmd}")
    finally:
        for p in (charon, gw):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        cleanup()
        if os.environ.get("EIKC_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

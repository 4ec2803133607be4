#!/usr/bin/python3
"""Who gets in (issue 7): espgw-ike's refusals and its algorithm policy, against a real
strongSwan 5.9 road warrior.

Netns epol-gw (espgw-ike on kernel UDP sockets, 10.77.4.1) and epol-rw (charon with
kernel-libipsec, 10.77.4.2). With the default policy: a wrong PSK is refused
(AUTHENTICATION_FAILED) and logged; a client offering only what Windows' built-in
IKEv2 client offers by default (3DES/SHA1/MODP_1024) or a strong cipher with DH group 2
gets NO_PROPOSAL_CHOSEN and espgw-ike's log names what was offered and why it was
refused. With [ike] legacy_algorithms = true: the same clients connect (3DES and
MODP_1024 in IKE, AES-CBC + HMAC-SHA1-96 in ESP, as swanctl shows), each with a
warning in the log, and a client offering a strong proposal too still gets the strong
one. A strongSwan that fails to start is a FAIL. Prints TESTCASE lines; exits 1 if any
case failed.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nsnet
import swan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
GW, RW = "epol-gw", "epol-rw"
GW_IP, RW_IP = "10.77.4.1", "10.77.4.2"
PSK = "epol-policy-secret-0123456789"
result = nsnet.Results()


def gw_config(tmp, legacy):
    path = os.path.join(tmp, f"espgw-ike-{int(legacy)}.toml")
    ike = ['"aes256gcm16-prfsha256-ecp256"']
    esp = ['"aes256gcm16"']
    if legacy:
        ike += ['"aes256-sha1-modp1024"', '"3des-sha1-modp1024"']
        esp += ['"aes256-sha1"']
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
legacy_algorithms = {"true" if legacy else "false"}
dpd_delay = 30

[pools.rw]
cidr = "10.99.34.0/24"

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = [{", ".join(ike)}]
esp_proposals = [{", ".join(esp)}]
local_ts = ["10.78.4.0/24"]
pool = "rw"
""")
    return path


def swanctl_conf(rwdir, ike, esp, psk=PSK):
    return swan.psk_conf(rwdir, GW_IP, ike, esp, "10.78.4.0/24", psk)


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def attempt(rwdir, gw_log, ike, esp, psk=PSK):
    """Loads one client configuration and initiates: (swanctl --list-sas, new gw log, charon log)."""
    conf = swanctl_conf(rwdir, ike, esp, psk)
    swan.swanctl(RW, rwdir, f"--load-all --noprompt --clear --file {conf}")
    before = len(text(gw_log))
    cbefore = len(text(os.path.join(rwdir, "charon.log")))
    swan.swanctl(RW, rwdir, "--initiate --child net --timeout 10", timeout=20)
    ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
    out = (ls, text(gw_log)[before:], text(os.path.join(rwdir, "charon.log"))[cbefore:])
    swan.swanctl(RW, rwdir, "--terminate --ike gw --force --timeout 3")
    time.sleep(0.1)
    return out


def start_gw(tmp, legacy):
    log = os.path.join(tmp, f"ike-{int(legacy)}.log")
    p = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", gw_config(tmp, legacy), "--control-socket",
                          "none"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    time.sleep(0.3)
    return p, log


def main():
    if not os.access(IKE_BIN, os.X_OK):
        result(False, "policy_setup", f"{IKE_BIN} not built")
        return 1
    tmp = tempfile.mkdtemp(prefix="epol-")
    procs = []
    try:
        nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "epol")
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        ch = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir))
        procs.append(ch)
        gw, log = start_gw(tmp, legacy=False)
        procs.append(gw)
        if not swan.charon_ready(ch, rwdir) or gw.poll() is not None:
            why = ("strongSwan charon failed to start" if not swan.charon_ready(ch, rwdir)
                   else f"espgw-ike exited: {text(log)[-300:]}")
            result(False, "policy_setup", why)
            return 1

        ls, g, c = attempt(rwdir, log, "aes256gcm16-prfsha256-ecp256", "aes256gcm16", psk="not-the-right-secret-123")
        result("ESTABLISHED" not in ls and "authentication failed" in g and "AUTHENTICATION_FAILED" in c,
               "wrong_psk_refused_and_logged", f"sas: {ls[-200:]} gw: {g[-300:]}")

        ls, g, c = attempt(rwdir, log, "3des-sha1-modp1024", "aes256-sha1")
        result("ESTABLISHED" not in ls and "NO_PROPOSAL_CHOSEN" in c and "offered 3DES/" in g and
               "MODP_1024" in g and "legacy_algorithms is off" in g, "windows_default_3des_modp1024_refused",
               f"sas: {ls[-200:]} gw: {g[-400:]}")

        ls, g, c = attempt(rwdir, log, "aes256-sha256-modp1024", "aes256gcm16")
        result("ESTABLISHED" not in ls and "NO_PROPOSAL_CHOSEN" in c and "legacy_algorithms is off" in g,
               "dh_group2_with_strong_cipher_refused", f"sas: {ls[-200:]} gw: {g[-400:]}")

        ls, g, c = attempt(rwdir, log, "aes256gcm16-prfsha256-ecp256", "aes256gcm16")
        result("ESTABLISHED" in ls and "INSTALLED" in ls and "10.99.34." in ls, "strong_proposal_accepted",
               f"sas: {ls[-300:]} gw: {g[-300:]}")

        gw.terminate()
        gw.wait(timeout=5)
        gw, log = start_gw(tmp, legacy=True)
        procs.append(gw)
        if gw.poll() is not None:
            result(False, "legacy_gateway_starts", text(log)[-300:])
            return 1
        ls, g, c = attempt(rwdir, log, "3des-sha1-modp1024", "aes256-sha1")
        result("ESTABLISHED" in ls and "3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in ls and
               "AES_CBC-256/HMAC_SHA1_96" in ls and "INSTALLED" in ls, "legacy_3des_sha1_modp1024_established",
               f"sas: {ls[-400:]} gw: {g[-300:]}")
        result("legacy algorithms" in g and "3DES" in g and "legacy_algorithms is on" in text(log),
               "legacy_negotiation_warned", g[-300:])

        ls, g, c = attempt(rwdir, log, "aes256-sha1-modp1024", "aes256-sha1")
        result("ESTABLISHED" in ls and "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in ls,
               "legacy_aes_sha1_modp1024_established", f"sas: {ls[-400:]} gw: {g[-300:]}")

        ls, g, c = attempt(rwdir, log, "aes256gcm16-prfsha256-ecp256,3des-sha1-modp1024", "aes256gcm16,aes256-sha1")
        result("ESTABLISHED" in ls and "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256" in ls and
               "legacy algorithms" not in g, "strong_preferred_when_both_offered", f"sas: {ls[-400:]} gw: {g[-300:]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
        nsnet.cleanup(GW, RW)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

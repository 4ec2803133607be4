#!/usr/bin/python3
"""espgw-ike as IKEv2 INITIATOR (site-to-site, PSK) against strongSwan 5.9 as responder.

Topology: netns eiki-gw (espgw-ike on 10.79.0.1, plain UDP sockets) and netns eiki-sw
(charon with kernel-libipsec on 10.79.0.2, a connection with remote_addrs = %any, no
vips, subnets 10.2.0.0/24 <-> 10.1.0.0/24), joined by a veth pair. espgw-ike runs with
start_action = "start" and initiates IKE_SA_INIT + IKE_AUTH by itself. A case passes
when `swanctl --list-sas` shows the IKE SA ESTABLISHED (espgw-ike's SPI as SPIi) and
the CHILD_SA INSTALLED with the SPIs espgw-ike's SA output reports (ours in = theirs
out, initiator = true). Cases: the first proposal accepted; strongSwan refusing our
first DH group (INVALID_KE_PAYLOAD, §1.2/§2.7: espgw-ike retries with modp2048).
A strongSwan that fails to start is a FAIL. Prints TESTCASE lines; exits 1 on failure.
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
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
GW, SW = "eiki-gw", "eiki-sw"
GW_IP, SW_IP = "10.79.0.1", "10.79.0.2"
PSK = "eiki-initiator-secret-0123456789"
ESPGW_PROPS = '"aes256gcm16-prfsha256-ecp256", "aes256gcm16-prfsha256-modp2048"'

CASES = [
    # name, strongSwan's IKE proposals, expected swanctl IKE line, log line espgw-ike must show
    ("initiator_psk_first_proposal", "aes256gcm16-prfsha256-ecp256", "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256", None),
    ("initiator_invalid_ke_retry", "aes256gcm16-prfsha256-modp2048", "AES_GCM_16-256/PRF_HMAC_SHA2_256/MODP_2048",
     "responder asks for DH group 14"),
    # start_action = "none": the operator starts it with `espctl conn up s2s`.
    ("initiator_espctl_conn_up", "aes256gcm16-prfsha256-ecp256", "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256",
     "CLI: conn up s2s"),
]
ESPCTL = os.path.join(BUILD, "control", "espctl")

result = nsnet.Results()
sh = nsnet.sh


def cleanup():
    nsnet.cleanup(GW, SW)


def setup_net():
    nsnet.veth_pair(GW, SW, GW_IP, SW_IP, "eiki")
    # strongSwan (kernel-libipsec) routes its CHILD_SA's policy from an address inside
    # its local_ts: give it one (on lo; this kernel has no dummy interfaces).
    sh(f"ip -n {SW} addr add 10.2.0.1/32 dev lo")


def write_gw_config(tmp, tag, start_action="start"):
    sa_out = os.path.join(tmp, f"sas-{tag}.jsonl")
    path = os.path.join(tmp, f"espgw-ike-{tag}.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
sa_output = "{sa_out}"
retransmit_timeout = 1.0
retransmit_tries = 3

[[connections]]
name = "s2s"
local_id = "a.example.com"
remote_id = "b.example.com"
remote_addr = "{SW_IP}"
start_action = "{start_action}"
psk = "{PSK}"
ike_proposals = [{ESPGW_PROPS}]
esp_proposals = ["aes128gcm16", "aes128-sha256"]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
""")
    return path, sa_out


def write_swanctl(swdir, ike):
    path = os.path.join(swdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  s2s {{
    version = 2
    remote_addrs = %any
    proposals = {ike}
    mobike = no
    local {{
      auth = psk
      id = b.example.com
    }}
    remote {{
      auth = psk
      id = a.example.com
    }}
    children {{
      net {{
        local_ts = 10.2.0.0/24
        remote_ts = 10.1.0.0/24
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  ike-s2s {{
    id-a = a.example.com
    id-b = b.example.com
    secret = "{PSK}"
  }}
}}
""")
    return path


def read_sas(sa_out):
    out = []
    if os.path.exists(sa_out):
        with open(sa_out) as f:
            for line in f:
                if line.strip():
                    ev = json.loads(line)
                    if ev.get("event") == "install":
                        out.append(ev["sa"])
    return out


def swan_state(ls):
    ike = re.search(r"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", ls)
    m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
    m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
    child = (m_in.group(1), m_out.group(1)) if m_in and m_out and "INSTALLED" in ls else None
    return (ike.groups() if ike else None), child


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def file_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def run_case(tmp, swdir, name, swan_ike, want_alg, want_log):
    r = swan.swanctl(SW, swdir, "--terminate --ike s2s --timeout 3")
    r = swan.swanctl(SW, swdir, f"--load-all --noprompt --file {write_swanctl(swdir, swan_ike)}")
    if r.returncode != 0:
        return f"swanctl --load-all failed: {r.stderr.strip()[:200]}"
    via_cli = name == "initiator_espctl_conn_up"
    cfg, sa_out = write_gw_config(tmp, name, "none" if via_cli else "start")
    log_path = os.path.join(tmp, f"espgw-ike-{name}.log")
    ctl = os.path.join(tmp, f"ike-{name}.sock")
    gw = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", cfg, "--control-socket", ctl],
                          stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        if via_cli:
            for _ in range(50):
                if os.path.exists(ctl):
                    break
                time.sleep(0.1)
            time.sleep(1.0)
            if read_sas(sa_out):
                return "espgw-ike initiated on its own with start_action = none"
            r = subprocess.run([ESPCTL, "--ike-socket", ctl, "conn", "up", "s2s"], capture_output=True, text=True)
            if r.returncode != 0:
                return f"espctl conn up s2s failed (rc {r.returncode}): {(r.stdout + r.stderr).strip()[:200]}"
        end = time.time() + 15
        ls, ike, child = "", None, None
        while time.time() < end:
            if gw.poll() is not None:
                return f"espgw-ike exited (rc {gw.returncode}): {file_text(log_path)[-300:]}"
            ls = swan.swanctl(SW, swdir, "--list-sas").stdout
            ike, child = swan_state(ls)
            if ike and child and read_sas(sa_out):
                break
            time.sleep(0.2)
        if not ike:
            return f"strongSwan shows no ESTABLISHED IKE SA; espgw-ike log: {file_text(log_path)[-400:]}"
        if not child:
            return "strongSwan shows no INSTALLED CHILD_SA"
        if want_alg not in ls:
            return f"IKE algorithms are not {want_alg}"
        sas = read_sas(sa_out)
        if not any(sa["spi_in"] == child[1] and sa["spi_out"] == child[0] for sa in sas):
            return f"espgw-ike SA output {[(s['spi_in'], s['spi_out']) for s in sas]} lacks strongSwan's pair {child}"
        glog = file_text(log_path)
        if f"{ike[0]}_i" not in glog or "CHILD_SA installed as initiator" not in glog:
            return f"espgw-ike log lacks 'established as initiator' with SPIi {ike[0]}"
        if want_log and want_log not in glog:
            return f"espgw-ike log lacks '{want_log}'"
        return ""
    finally:
        stop(gw)


def main():
    tmp = tempfile.mkdtemp(prefix="eiki-")
    swdir = os.path.join(tmp, "sw")
    os.makedirs(swdir)
    charon = None
    try:
        if not os.access(IKE_BIN, os.X_OK):
            for c in CASES:
                result(False, c[0], f"{IKE_BIN} not built")
            return
        setup_net()
        conf = swan.write_charon_conf(swdir)
        charon = swan.start_charon(SW, swdir, conf)
        if not swan.charon_ready(charon, swdir):
            for c in CASES:
                result(False, c[0], "strongSwan charon did not start: " + file_text(os.path.join(swdir, "charon.stderr"))[-200:])
            return
        for name, swan_ike, want_alg, want_log in CASES:
            try:
                why = run_case(tmp, swdir, name, swan_ike, want_alg, want_log)
            except Exception as e:  # a crashing case is a FAIL, the rest still run
                why = f"exception: {e}"
            result(not why, name, why)
    except subprocess.CalledProcessError as e:
        result(False, "ike_strongswan_initiator_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    finally:
        stop(charon)
        cleanup()
        if os.environ.get("EIKI_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

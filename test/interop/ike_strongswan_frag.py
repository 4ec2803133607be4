#!/usr/bin/python3
"""IKE fragmentation (RFC 7383) and the CP extensions against a strongSwan 5.9 road warrior.

Netns h4-gw (espgw-ike, kernel sockets, 10.81.0.1) and h4-rw (charon with
kernel-libipsec, 10.81.0.2). A test PKI of RSA-4096 keys: a root CA, an intermediate CA
that issues the road warrior's certificate (strongSwan sends the intermediate along),
and the gateway's certificate from the root. Both IKE_AUTH messages are then far over
the 1280-byte fragment size, so they travel in fragments in both directions.

Cases:
- frag_both_directions: fragmentation = yes on both ends; espgw-ike's counters and log
  and strongSwan's log show fragments sent and reassembled both ways; the SA is up.
- cp_attributes: the road warrior's log shows the DNS, NBNS, DNS domain (RFC 8598) and
  split subnets it received; its CHILD_SA's remote TS is the split (narrowed) subnets.
- cp_static_address: its virtual IP is the pool's [static] entry for its identity.
- small_path_*: the gateway drops every IP datagram longer than 900 bytes (iptables
  length match, both directions). With fragment_size 900 on both ends the SA comes
  up; with strongSwan's fragmentation = no the same exchange fails.
- initiator_small_path_fragmented: espgw-ike initiates a site-to-site tunnel (PSK, 40
  subnets a side, so IKE_AUTH is over 900 bytes both ways) to charon as responder over
  the same path: fragments go both ways and the tunnel comes up.
- dpd_restart_reestablishes: charon is killed; espgw-ike's DPD finds the peer dead and,
  with dpd_action = "restart", initiates again: a new charon gets the tunnel back.
Prints TESTCASE lines; exits 1 if any case failed.
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
ESPCTL = os.path.join(BUILD, "control", "espctl")
GW, RW = "h4-gw", "h4-rw"
GW_IP, RW_IP = "10.81.0.1", "10.81.0.2"
RW_ID = "rw-frag.example.com"
STATIC_IP = "10.99.8.5"
SMALL = 900  # bytes: the largest IP datagram the "small path" lets through
result = nsnet.Results()
sh = nsnet.sh


def make_pki(d):
    def pki(args, out):
        sh(f"pki {args} > {d}/{out} 2>/dev/null")
    for name in ("ca", "im", "gw", "rw"):
        pki("--gen --type rsa --size 4096 --outform pem", f"{name}.key")
    pki(f"--self --ca --in {d}/ca.key --type rsa --dn 'C=DE, O=Example, CN=Example Root CA' --outform pem", "ca.pem")
    pki(f"--issue --ca --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/im.key "
        f"--dn 'C=DE, O=Example, CN=Example Intermediate CA' --outform pem", "im.pem")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/gw.key "
        f"--dn 'C=DE, O=Example, CN=gw.example.com' --san gw.example.com --outform pem", "gw.pem")
    pki(f"--issue --cacert {d}/im.pem --cakey {d}/im.key --type priv --in {d}/rw.key "
        f"--dn 'C=DE, O=Example, CN={RW_ID}' --san {RW_ID} --outform pem", "rw.pem")


def write_gw_config(d, fragment_size):
    path = os.path.join(d, f"espgw-ike-{fragment_size}.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
fragmentation = "yes"
fragment_size = {fragment_size}
dpd_delay = 0

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "10.99.9.0/24"
dns = ["10.80.0.53"]
nbns = ["10.80.0.54"]
dns_domain = "corp.example"
split_include = ["10.80.1.0/24", "10.80.2.0/24"]

[pools.rw.static]
"{RW_ID}" = "{STATIC_IP}"

[[connections]]
name = "rw-cert"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "C=DE, O=Example, CN=*"
ike_proposals = ["aes256-sha256-modp2048"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.80.0.0/16"]
pool = "rw"
""")
    return path


def write_swanctl(rwdir, d, fragmentation):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {GW_IP}
    vips = 0.0.0.0
    proposals = aes256-sha256-modp2048
    fragmentation = {fragmentation}
    send_cert = always
    send_certreq = yes
    mobike = no
    local {{
      auth = pubkey
      certs = {d}/rw.pem
      id = {RW_ID}
    }}
    remote {{
      auth = pubkey
      id = gw.example.com
      cacerts = {d}/ca.pem
    }}
    children {{
      net {{
        remote_ts = 10.80.0.0/16
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
""")
    # swanctl loads the key from rsa/ and the intermediate CA from x509ca/ beside its config:
    # charon then sends the intermediate in IKE_AUTH (the gateway trusts only the root).
    shutil.copy(os.path.join(d, "rw.key"), os.path.join(rwdir, "rsa", "rw.key"))
    shutil.copy(os.path.join(d, "im.pem"), os.path.join(rwdir, "x509ca", "im.pem"))
    return path


def file_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class Gateway:
    def __init__(self, tmp, fragment_size):
        self.log = os.path.join(tmp, f"espgw-ike-{fragment_size}.log")
        self.sock = os.path.join(tmp, f"ike-{fragment_size}.sock")
        self.p = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_gw_config(tmp, fragment_size),
                                   "--control-socket", self.sock],
                                  stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(self.sock) or self.p.poll() is not None:
                break
            time.sleep(0.05)

    def alive(self):
        return self.p.poll() is None and os.path.exists(self.sock)

    def counters(self):
        r = subprocess.run([ESPCTL, "--ike-socket", self.sock, "--json", "show", "ike", "counters"],
                           capture_output=True, text=True, timeout=15)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"raw": r.stdout + r.stderr}

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def start_charon(tmp, name, fragment_size, extra=""):
    rwdir = os.path.join(tmp, name)
    os.makedirs(rwdir)
    conf = swan.write_charon_conf(rwdir)
    # charon.fragment_size: the largest IP datagram of one of its fragments.
    text = file_text(conf).replace("  retransmit_tries", f"  fragment_size = {fragment_size}\n{extra}  retransmit_tries", 1)
    with open(conf, "w") as f:
        f.write(text)
    return rwdir, swan.start_charon(RW, rwdir, conf)


def initiate(rwdir, tmp, fragmentation):
    conf = write_swanctl(rwdir, tmp, fragmentation)
    r = swan.swanctl(RW, rwdir, f"--load-all --noprompt --clear --file {conf}")
    if r.returncode != 0:
        return r, f"swanctl --load-all failed: {(r.stderr or r.stdout).strip()[-200:]}", ""
    r = swan.swanctl(RW, rwdir, "--initiate --child net --timeout 12", timeout=25)
    return r, "", swan.swanctl(RW, rwdir, "--list-sas").stdout


def stop_charon(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def case_big_certs(tmp):
    gw = Gateway(tmp, 1280)
    rwdir, charon = start_charon(tmp, "rw1", 1280)
    names = ("frag_both_directions", "cp_attributes", "cp_static_address")
    try:
        if not gw.alive() or not swan.charon_ready(charon, rwdir):
            why = (f"espgw-ike did not start: {file_text(gw.log)[-300:]}" if not gw.alive()
                   else f"strongSwan charon failed to start (rc {charon.poll()})")
            for n in names:
                result(False, n, why)
            return
        r, why, ls = initiate(rwdir, tmp, "yes")
        if why:
            for n in names:
                result(False, n, why)
            return
        clog, glog = file_text(os.path.join(rwdir, "charon.log")), file_text(gw.log)
        c = gw.counters()
        f = c.get("fragments", {})
        up = r.returncode == 0 and "ESTABLISHED" in ls and "INSTALLED" in ls
        why = ""
        if not up:
            why = "not established: " + " | ".join((r.stdout or "").strip().splitlines()[-4:])[-400:]
        elif not re.search(r"splitting IKE message \(\d+ bytes\) into \d+ fragments", clog):
            why = "strongSwan did not fragment its IKE_AUTH request"
        elif "reassembled fragmented IKE message" not in clog:
            why = "strongSwan did not reassemble a fragmented response"
        elif not re.search(r"request 1 reassembled from \d+ fragments", glog):
            why = "espgw-ike log lacks the reassembled request"
        elif not re.search(r"response message 1 sent in \d+ fragments \(fragment_size 1280\)", glog):
            why = "espgw-ike log lacks the fragmented response"
        elif not (f.get("messages_reassembled", 0) >= 1 and f.get("messages_fragmented", 0) >= 1
                  and f.get("fragments_sent", 0) >= 2 and f.get("fragments_received", 0) >= 2
                  and f.get("fragments_bad", 1) == 0):
            why = f"espgw-ike fragment counters: {c}"
        elif "IKE_FRAGMENTATION" not in clog and "FRAG_SUP" not in clog:
            why = "strongSwan log does not show the fragmentation notify"
        result(not why, "frag_both_directions", why)

        # CP: what strongSwan says it processed (ike_config, log level ike 2).
        why = ""
        for attr in ("INTERNAL_IP4_DNS", "INTERNAL_IP4_NBNS", "INTERNAL_IP4_SUBNET"):
            if f"processing {attr} attribute" not in clog:
                why = f"strongSwan did not process {attr}"
                break
        if not why and not re.search(r"processing (INTERNAL_DNS_DOMAIN|\(25\)) attribute", clog):
            why = "strongSwan did not process INTERNAL_DNS_DOMAIN (25)"
        m_ts = re.search(r"remote\s+10\.80\.1\.0/24 10\.80\.2\.0/24", ls)
        if not why and not m_ts:
            why = f"CHILD_SA remote TS is not the split subnets: {ls[-500:]}"
        result(up and not why, "cp_attributes", why or "not established")

        m_vip = re.search(rf"local\s+'{re.escape(RW_ID)}' @ \S+ \[([0-9.]+)\]", ls)
        why = ""
        if not m_vip or m_vip.group(1) != STATIC_IP:
            why = f"virtual IP is {m_vip.group(1) if m_vip else None}, want the static {STATIC_IP}"
        elif f"static virtual IP {STATIC_IP} assigned" not in glog:
            why = "espgw-ike log lacks the static assignment"
        elif f"installing new virtual IP {STATIC_IP}" not in clog:
            why = "strongSwan did not install the static virtual IP"
        result(up and not why, "cp_static_address", why or "not established")
        if os.environ.get("H4_DEBUG"):
            print(ls, glog[-3000:], clog[-6000:], file=sys.stderr)
    finally:
        stop_charon(charon)
        gw.stop()


def case_small_path(tmp):
    # Every IP datagram longer than SMALL bytes is dropped at the gateway, in and out
    # (conntrack reassembles IP fragments first, so IP fragmentation does not help).
    for chain in ("INPUT", "OUTPUT"):
        sh(f"ip netns exec {GW} iptables -A {chain} -p udp -m length --length {SMALL + 1}:65535 -j DROP")
    gw = Gateway(tmp, SMALL)
    try:
        for name, frag, want_up in (("small_path_fragmented_established", "yes", True),
                                    ("small_path_unfragmented_fails", "no", False)):
            rwdir, charon = start_charon(tmp, name, SMALL)
            try:
                if not gw.alive() or not swan.charon_ready(charon, rwdir):
                    result(False, name, "espgw-ike or charon failed to start: " + file_text(gw.log)[-300:])
                    continue
                r, why, ls = initiate(rwdir, tmp, frag)
                if why:
                    result(False, name, why)
                    continue
                up = r.returncode == 0 and "ESTABLISHED" in ls and "INSTALLED" in ls
                glog = file_text(gw.log)
                if want_up:
                    if not up:
                        why = "not established: " + " | ".join((r.stdout or "").strip().splitlines()[-4:])[-400:]
                    elif f"(fragment_size {SMALL})" not in glog:
                        why = "espgw-ike did not fragment to the small size"
                else:
                    drops = sh(f"ip netns exec {GW} iptables -vnL INPUT", check=False).stdout
                    m = re.search(r"^\s*(\d+)\s+\d+\s+DROP", drops, re.M)
                    if up:
                        why = "established although its IKE_AUTH cannot cross the path"
                    elif not m or int(m.group(1)) == 0:
                        why = f"the path dropped nothing: {drops.strip()[-300:]}"
                result(not why, name, why)
            finally:
                stop_charon(charon)
    finally:
        gw.stop()


def subnets(second):
    return [f"10.{second}.{i}.0/24" for i in range(40)]


def write_s2s_gw_config(d):
    path = os.path.join(d, "espgw-ike-s2s.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
fragmentation = "yes"
fragment_size = {SMALL}
dpd_delay = 2
retransmit_timeout = 0.5
retransmit_tries = 2

[[connections]]
name = "s2s"
local_id = "a.example.com"
remote_id = "b.example.com"
remote_addr = "{RW_IP}"
start_action = "start"
dpd_action = "restart"
psk = "h4-site-to-site-psk-0123456789"
ike_proposals = ["aes256-sha256-modp2048"]
esp_proposals = ["aes128gcm16"]
local_ts = {json.dumps(subnets(1))}
remote_ts = {json.dumps(subnets(2))}
""")
    return path


def write_s2s_swanctl(swdir):
    path = os.path.join(swdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  s2s {{
    version = 2
    remote_addrs = %any
    proposals = aes256-sha256-modp2048
    fragmentation = yes
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
        local_ts = {",".join(subnets(2))}
        remote_ts = {",".join(subnets(1))}
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  ike-s2s {{
    id-a = a.example.com
    id-b = b.example.com
    secret = "h4-site-to-site-psk-0123456789"
  }}
}}
""")
    return path


def start_responder(tmp, name):
    swdir, charon = start_charon(tmp, name, SMALL)
    if not swan.charon_ready(charon, swdir):
        return swdir, charon, f"strongSwan charon failed to start (rc {charon.poll()})"
    r = swan.swanctl(RW, swdir, f"--load-all --noprompt --file {write_s2s_swanctl(swdir)}")
    if r.returncode != 0:
        return swdir, charon, f"swanctl --load-all failed: {(r.stderr or r.stdout).strip()[-200:]}"
    return swdir, charon, ""


def wait_established(swdir, seconds):
    ls = ""
    for _ in range(int(seconds * 5)):
        ls = swan.swanctl(RW, swdir, "--list-sas").stdout
        if "ESTABLISHED" in ls and "INSTALLED" in ls:
            return True, ls
        time.sleep(0.2)
    return False, ls


def case_initiator(tmp):
    # strongSwan (kernel-libipsec) routes each CHILD_SA policy from an address inside the
    # local subnet: one on lo in each of its 40.
    sh(" && ".join(f"ip -n {RW} addr add 10.2.{i}.1/32 dev lo" for i in range(40)))
    # The path still drops datagrams over SMALL bytes (case_small_path's rules).
    swdir, charon, why = start_responder(tmp, "sw1")
    gw = None
    try:
        if why:
            result(False, "initiator_small_path_fragmented", why)
            result(False, "dpd_restart_reestablishes", why)
            return
        log = os.path.join(tmp, "espgw-ike-s2s.log")
        gw = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_s2s_gw_config(tmp)],
                              stdout=open(log, "w"), stderr=subprocess.STDOUT)
        up, ls = wait_established(swdir, 12)
        # charon is ESTABLISHED once it sent its response; espgw-ike logs a moment later.
        for _ in range(50):
            if "CHILD_SA installed as initiator" in file_text(log):
                break
            time.sleep(0.1)
        glog, clog = file_text(log), file_text(os.path.join(swdir, "charon.log"))
        why = ""
        if not up:
            why = f"not established: {glog[-400:]}"
        elif not re.search(rf"request message 1 sent in \d+ fragments \(fragment_size {SMALL}\)", glog):
            why = "espgw-ike did not fragment its IKE_AUTH request"
        elif not re.search(r"response 1 reassembled from \d+ fragments", glog):
            why = "espgw-ike did not reassemble the IKE_AUTH response"
        elif "reassembled fragmented IKE message" not in clog or "splitting IKE message" not in clog:
            why = "strongSwan did not receive and send fragments"
        result(not why, "initiator_small_path_fragmented", why)
        if not up:
            result(False, "dpd_restart_reestablishes", "the tunnel never came up")
            return
        # The peer dies without a word; espgw-ike's DPD (2 s, then 2 retransmissions) finds it.
        charon.kill()
        charon.wait()
        why = ""
        for _ in range(100):
            if "dpd_action restart" in file_text(log):
                break
            time.sleep(0.1)
        else:
            why = f"espgw-ike did not declare the peer dead and restart: {file_text(log)[-400:]}"
        if not why:
            os.unlink(os.path.join(swdir, "charon.vici"))
            swdir2, charon2, why = start_responder(tmp, "sw2")
            charon = charon2
            if not why:
                up, ls = wait_established(swdir2, 15)  # the restart comes 5 s after the clear
                glog = file_text(log)
                if not up:
                    why = f"not re-established: {glog[-400:]}"
                elif glog.count("IKE SA established as initiator") < 2:
                    why = "espgw-ike log shows no second IKE SA"
        result(not why, "dpd_restart_reestablishes", why)
    finally:
        stop_charon(charon)
        if gw and gw.poll() is None:
            gw.send_signal(signal.SIGTERM)
            try:
                gw.wait(3)
            except subprocess.TimeoutExpired:
                gw.kill()
                gw.wait()


def main():
    if os.geteuid() != 0:
        result(False, "ike_frag_setup", "needs root for network namespaces")
        return
    for b in (IKE_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_frag_setup", f"{b} not built")
            return
    tmp = tempfile.mkdtemp(prefix="h4-frag-")
    try:
        nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "h4f")
        make_pki(tmp)
        case_big_certs(tmp)
        case_small_path(tmp)
        case_initiator(tmp)
    except subprocess.CalledProcessError as e:
        result(False, "ike_frag_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    except subprocess.TimeoutExpired as e:
        result(False, "ike_frag_setup", f"timeout: {e.cmd}")
    finally:
        nsnet.cleanup(GW, RW)
        if os.environ.get("H4_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

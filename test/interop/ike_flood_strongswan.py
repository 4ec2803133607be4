#!/usr/bin/python3
"""An IKE_SA_INIT flood against espgw-ike while a real strongSwan client connects
(issue 7, hostile input: "IKE floods from many addresses: cookies must engage and the
daemon stay responsive to a legitimate client during the flood").

Netns efl-gw (espgw-ike on kernel UDP sockets, 10.77.5.1, cookie_threshold 16) and
efl-rw (10.77.5.2: strongSwan; 10.77.5.100-163: 64 flooding addresses). The flooder
sends well-formed IKE_SA_INIT requests (valid P-256 KE, fresh SPI and nonce each) from
the 64 addresses at a bounded rate for a bounded time, plus malformed datagrams, and
never answers. Cases: strongSwan completes IKE_SA_INIT (with the COOKIE round trip) +
IKE_AUTH during the flood; espgw-ike sent COOKIEs and accepted strongSwan's; half-open
state stayed bounded by the threshold (the flood's requests beyond it cost no state);
malformed datagrams were counted; espgw-ike still answers its CLI afterwards. A
strongSwan that fails to start is a FAIL. Prints TESTCASE lines; exits 1 on failure.
"""
import json
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
ESPCTL = os.path.join(BUILD, "control", "espctl")
GW, RW = "efl-gw", "efl-rw"
GW_IP, RW_IP = "10.77.5.1", "10.77.5.2"
FLOOD_ADDRS = [f"10.77.5.{100 + i}" for i in range(64)]
PSK = "efl-flood-secret-0123456789"
RATE, SECONDS = 1500, 6  # flood datagrams per second, for this long (bounded load)
result = nsnet.Results()

FLOODER = r"""
import os, random, socket, struct, sys, time
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
gw, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
addrs = sys.argv[4].split(',')
pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]  # x || y
def init():
    t1 = struct.pack('!BBHBBH', 3, 0, 12, 1, 0, 20) + struct.pack('!HH', 0x800E, 256)  # ENCR AES-GCM-16 256
    t2 = struct.pack('!BBHBBH', 3, 0, 8, 2, 0, 5)    # PRF HMAC-SHA2-256
    t3 = struct.pack('!BBHBBH', 0, 0, 8, 4, 0, 19)   # DH ECP-256
    prop = struct.pack('!BBHBBBB', 0, 0, 8 + len(t1 + t2 + t3), 1, 1, 0, 3) + t1 + t2 + t3
    sa = struct.pack('!BBH', 34, 0, 4 + len(prop)) + prop
    ke = struct.pack('!BBHHH', 40, 0, 8 + len(pub), 19, 0) + pub
    nonce = os.urandom(32)
    ni = struct.pack('!BBH', 0, 0, 4 + len(nonce)) + nonce
    body = sa + ke + ni
    hdr = os.urandom(8) + bytes(8) + struct.pack('!BBBBII', 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return hdr + body
socks = []
for a in addrs:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a, 0))  # charon holds port 500 in this namespace
    s.setblocking(False)
    socks.append(s)
sent = bad = 0
t0 = time.time()
while time.time() - t0 < seconds:
    for _ in range(rate // 50):
        s = random.choice(socks)
        if random.random() < 0.1:
            msg = os.urandom(random.randint(1, 300)); bad += 1   # junk
        else:
            msg = init()
        try:
            s.sendto(msg, (gw, 500)); sent += 1
        except BlockingIOError:
            pass
    # drain and ignore answers (COOKIE notifies, IKE_SA_INIT responses)
    for s in socks:
        try:
            while True: s.recv(4096)
        except (BlockingIOError, OSError):
            pass
    time.sleep(0.02)
print(f"{sent} {bad}", flush=True)
"""


def gw_config(tmp):
    path = os.path.join(tmp, "espgw-ike.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
cookie_threshold = 16
half_open_timeout = 30
dpd_delay = 30

[pools.rw]
cidr = "10.99.35.0/24"

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.5.0/24"]
pool = "rw"
""")
    return path


def swanctl_conf(rwdir):
    return swan.psk_conf(rwdir, GW_IP, "aes256gcm16-prfsha256-ecp256", "aes128gcm16", "10.78.5.0/24", PSK,
                         local_addrs=RW_IP)


def counters(sock):
    r = nsnet.sh(f"{ESPCTL} --ike-socket {sock} --json show ike counters", check=False, timeout=10)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {"error": (r.stdout + r.stderr)[-200:]}


def main():
    for b in (IKE_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "flood_setup", f"{b} not built")
            return 1
    tmp = tempfile.mkdtemp(prefix="efl-")
    procs = []
    try:
        nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "efl")
        for a in FLOOD_ADDRS:
            nsnet.sh(f"ip -n {RW} addr add {a}/24 dev efl-r0")
        sock = os.path.join(tmp, "ike.sock")
        log = os.path.join(tmp, "ike.log")
        ike = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", gw_config(tmp), "--control-socket", sock],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT)
        procs.append(ike)
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        ch = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=4, retransmit_timeout=1.0))
        procs.append(ch)
        time.sleep(0.3)
        if not swan.charon_ready(ch, rwdir) or ike.poll() is not None:
            result(False, "flood_setup", "strongSwan charon failed to start" if ike.poll() is None
                   else f"espgw-ike exited: {open(log).read()[-300:]}")
            return 1
        swan.swanctl(RW, rwdir, f"--load-all --file {swanctl_conf(rwdir)}")
        before = counters(sock)

        flood = subprocess.Popen(["ip", "netns", "exec", RW, "/usr/bin/python3", "-c", FLOODER, GW_IP, str(RATE),
                                  str(SECONDS), ",".join(FLOOD_ADDRS)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        procs.append(flood)
        time.sleep(1.5)  # the flood is on and the threshold long passed
        t0 = time.time()
        r = swan.swanctl(RW, rwdir, "--initiate --child net --timeout 15", timeout=25)
        took = time.time() - t0
        ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
        during = flood.poll() is None
        out, err = flood.communicate(timeout=SECONDS + 20)
        sent, bad = (int(x) for x in out.split()) if out.strip() else (0, 0)
        after = counters(sock)
        charon_log = open(os.path.join(rwdir, "charon.log")).read()

        result(sent > RATE * SECONDS // 3, "flood_sent", f"flooder sent {sent} ({bad} junk); {err[-200:]}")
        result("ESTABLISHED" in ls and "INSTALLED" in ls and "10.99.35." in ls and during,
               "legitimate_client_connects_during_flood",
               f"took {took:.1f} s, flood still running: {during}; {(r.stdout + r.stderr)[-300:]} {ls[-200:]}")
        result("COOKIE" in charon_log, "strongswan_got_cookie_and_retried", charon_log[-300:])
        cs = after.get("cookies_sent", 0) - before.get("cookies_sent", 0)
        ca = after.get("cookies_accepted", 0) - before.get("cookies_accepted", 0)
        result(cs > sent // 2 and ca >= 1, "cookies_engaged",
               f"cookies sent {cs} for {sent} flood datagrams, accepted {ca}: {json.dumps(after)[:300]}")
        result(0 < after.get("half_open", 99) <= 16 + 2, "half_open_state_bounded",
               f"{after.get('half_open')} half-open IKE SAs after the flood (threshold 16); the rest got COOKIEs")
        pe = after.get("parse_errors", 0) - before.get("parse_errors", 0)
        result(pe >= bad // 2, "malformed_datagrams_counted", f"parse_errors +{pe} for {bad} junk datagrams")
        result(ike.poll() is None and "error" not in counters(sock), "daemon_responsive_after_flood",
               f"espgw-ike rc {ike.poll()}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        nsnet.cleanup(GW, RW)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

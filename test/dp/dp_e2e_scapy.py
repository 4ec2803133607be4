#!/usr/bin/python3
"""espgw-dp end to end against an independent ESP peer (scapy), in network namespaces.

    edp-peer                          edp-gw                          edp-lan
    [tun edp-tun 10.20.0.1]           espgw-dp (net_af_packet)        10.10.0.2
    [dp_esp_host.py: scapy ESP] edp-p0 ==== edp-gwo (outside)  (inside) edp-gwi ==== edp-l0
    192.0.2.2 / 2001:db8:1::2         192.0.2.1 / 2001:db8:1::1       10.10.0.1 / fd00:10::1

For each variant (suite, UDP-4500 or not, ESN, outer IPv4 or IPv6) espgw-dp starts with
two static SAs and protect policies 10.10.0.0/24 <-> 10.20.0.0/24 (and fd00:10::/64 <->
fd00:20::/64); plain ping, a TCP echo and a UDP echo from the peer's TUN address to the
lan host go through the tunnel both ways. The base variant also checks: ICMP echo to
the gateway's own addresses, a replayed and a bit-flipped ESP packet dropped and
counted under the right reason (read from the stats socket) while traffic keeps
flowing, ICMP fragmentation-needed with the correct MTU for an oversized DF packet,
DF-clear oversize packets fragmented before encryption and outer ESP fragments
reassembled, IKE punted, cleartext bypass. espgw-dp runs with the idle back-off on.

Prints "TESTCASE PASS|FAIL name[: reason]"; exits 1 if any failed.
  dp_e2e_scapy.py [--build-dir build] [--binary PATH] [--only SUBSTR] [--keep]
(ESPGW_BUILD_DIR, set by test/run_all.py, overrides --build-dir.)
"""
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = os.path.join(ROOT, "test", "dp", "dp_esp_host.py")
PY = "/usr/bin/python3"
NS_PEER, NS_LAN, NS_GW = "edp-peer", "edp-lan", "edp-gw"
TMP = tempfile.mkdtemp(prefix="edp-e2e-")
STATS = os.path.join(TMP, "stats.sock")

results = []


def report(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def sh(cmd, ns=None, check=True, timeout=30, capture=True):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip() or p.stdout.strip()}")
    return p


def cleanup():
    for ns in (NS_PEER, NS_LAN, NS_GW):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


TX_CSUM_OFF = r'''
import ctypes, fcntl, socket, struct, sys
# ethtool -K IF tx off (no ethtool binary here): SIOCETHTOOL / ETHTOOL_STXCSUM. A veth
# hands TCP/UDP to AF_PACKET readers with the checksum still to be filled in
# (CHECKSUM_PARTIAL); a real NIC never does, so the test bed turns the offload off.
ev = ctypes.create_string_buffer(struct.pack('II', 0x17, 0))
ifr = struct.pack('16sP', sys.argv[1].encode(), ctypes.addressof(ev))
fcntl.ioctl(socket.socket(), 0x8946, ifr)
'''


def topology():
    cleanup()
    for ns in (NS_PEER, NS_LAN, NS_GW):
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns)
    sh(["ip", "link", "add", "edp-p0", "netns", NS_PEER, "type", "veth", "peer", "name", "edp-gwo", "netns", NS_GW])
    sh(["ip", "link", "add", "edp-l0", "netns", NS_LAN, "type", "veth", "peer", "name", "edp-gwi", "netns", NS_GW])
    for i in ("edp-gwo", "edp-gwi"):
        # The gateway's kernel must stay out of the way: no addresses, no IPv6 chatter.
        sh(["sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1"], NS_GW)
        sh(["ip", "link", "set", i, "up"], NS_GW)
    sh(["ip", "link", "set", "edp-p0", "up"], NS_PEER)
    sh(["ip", "addr", "add", "192.0.2.2/24", "dev", "edp-p0"], NS_PEER)
    sh(["ip", "addr", "add", "2001:db8:1::2/64", "dev", "edp-p0", "nodad"], NS_PEER)
    sh(["ip", "link", "set", "edp-l0", "up"], NS_LAN)
    sh(["ip", "addr", "add", "10.10.0.2/24", "dev", "edp-l0"], NS_LAN)
    sh(["ip", "addr", "add", "fd00:10::2/64", "dev", "edp-l0", "nodad"], NS_LAN)
    sh(["ip", "route", "add", "default", "via", "10.10.0.1"], NS_LAN)
    sh([PY, "-c", TX_CSUM_OFF, "edp-l0"], NS_LAN)
    sh([PY, "-c", TX_CSUM_OFF, "edp-p0"], NS_PEER)
    sh(["ip", "-6", "route", "add", "default", "via", "fd00:10::1"], NS_LAN)
    # Cleartext (bypass) path between a second lan address and the peer's outside
    # address (the rest of 10.10.0.0/24 goes through the tunnel).
    sh(["ip", "addr", "add", "10.10.0.200/24", "dev", "edp-l0"], NS_LAN)
    sh(["ip", "route", "add", "10.10.0.200/32", "via", "192.0.2.1"], NS_PEER)


SUITE_KEYS = {"aes128gcm16": 20, "aes256gcm16": 36, "chacha20poly1305": 36, "aes128-sha256": 48, "aes128-sha1": 36}


def dp_config(v, k_out, k_in):
    gw, peer = ("2001:db8:1::1", "2001:db8:1::2") if v["outer6"] else ("192.0.2.1", "192.0.2.2")
    workers, queues = v.get("workers", 1), v.get("queues", 1)
    qp = f",qpairs={queues}" if queues > 1 else ""
    common = f'suite = "{v["suite"]}"\nudp_encap = {str(v["udp"]).lower()}\nesn = {str(v["esn"]).lower()}\n'
    return f"""
[dataplane]
workers = {workers}
idle_backoff = true
hugepages = "off"
memory_mb = 256

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=edp-gwo{qp}"
addresses = ["192.0.2.1/24", "2001:db8:1::1/64"]
mtu = 1500
queues = {queues}

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface=edp-gwi{qp}"
addresses = ["10.10.0.1/24", "fd00:10::1/64"]
mtu = 1500
queues = {queues}

[[sa]]
id = 1
spi = 0x1001
direction = "out"
keymat = "{k_out}"
tunnel_src = "{gw}"
tunnel_dst = "{peer}"
{common}
[[sa]]
id = 2
spi = 0x2001
direction = "in"
keymat = "{k_in}"
tunnel_src = "{peer}"
tunnel_dst = "{gw}"
replay_window = 1024
{common}
[[policy]]
priority = 10
src = "10.10.0.0/24"
dst = "10.20.0.0/24"
action = "protect"
sa = 1

[[policy]]
priority = 11
src = "fd00:10::/64"
dst = "fd00:20::/64"
action = "protect"
sa = 1

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"

[[policy]]
priority = 1001
dst = "::/0"
action = "bypass"
"""


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, cmd, ns, log):
        f = open(log, "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []


def wait_for(path, text, proc, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            if text in open(path).read():
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return False


def stats(cmd="stats"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(STATS)
    s.sendall(cmd.encode() + b"\n")
    data = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        data += x
    return json.loads(data)


def drops():
    return stats("drops")


def ping(ns, dst, count=3, extra=(), timeout=15):
    fam = ["-6"] if ":" in dst else []
    p = sh(["ping"] + fam + ["-c", str(count), "-i", "0.2", "-W", "2"] + list(extra) + [dst], ns, check=False,
           timeout=timeout)
    return p.returncode == 0, (p.stdout + p.stderr).strip().splitlines()[-1:] or [""]


ECHO_SERVER = r"""
import socket, sys, threading
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
t = socket.socket(fam, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((sys.argv[1], 5001)); t.listen(4)
u = socket.socket(fam, socket.SOCK_DGRAM); u.bind((sys.argv[1], 5002))
def udp():
    while True:
        d, a = u.recvfrom(65535); u.sendto(d, a)
threading.Thread(target=udp, daemon=True).start()
print('ready', flush=True)
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            c.sendall(d)
    except OSError as e:
        print(f'connection: {e}', flush=True)
    c.close()
while True:
    c, _ = t.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

TCP_CLIENT = r"""
import os, socket, sys, threading
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
data = os.urandom(int(sys.argv[2]))
c = socket.create_connection((sys.argv[1], 5001), timeout=60)  # slow on a loaded 2-core machine
got = []
def reader():  # read while writing: an echo of more than the socket buffers would deadlock
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            got.append(d)
    except OSError as e:
        got.append(repr(e).encode())
r = threading.Thread(target=reader); r.start()
c.sendall(data); c.shutdown(socket.SHUT_WR)
r.join()
got = b''.join(got)
print('ok' if got == data else f'mismatch {len(got)} of {len(data)}: {got[-80:]!r}')
"""

UDP_CLIENT = r"""
import os, socket, sys
fam = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
u = socket.socket(fam, socket.SOCK_DGRAM); u.settimeout(2)
good = 0
for i in range(int(sys.argv[2])):
    d = os.urandom(64 + 37 * i % 1200)
    u.sendto(d, (sys.argv[1], 5002))
    try:
        if u.recvfrom(65535)[0] == d: good += 1
    except socket.timeout:
        pass
print(f'{good}/{sys.argv[2]}')
"""


def run_variant(v, procs, base):
    name = v["name"]
    enc_in = secrets.token_hex(SUITE_KEYS[v["suite"]])
    enc_out = secrets.token_hex(SUITE_KEYS[v["suite"]])
    cfg = os.path.join(TMP, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(dp_config(v, enc_out, enc_in))
    dplog = os.path.join(TMP, f"{name}.dp.log")
    dp = procs.start([ARGS.binary, "--config", cfg, "--file-prefix", "dp-e2e", "--stats-socket", STATS], NS_GW, dplog)
    if not wait_for(dplog, "ready:", dp):
        report(False, f"{name}.start", f"espgw-dp did not start: {open(dplog).read()[-600:]}")
        return
    local, remote = ("2001:db8:1::2", "2001:db8:1::1") if v["outer6"] else ("192.0.2.2", "192.0.2.1")
    host_args = ["--suite", v["suite"], "--local", local, "--remote", remote, "--tx-spi", "0x2001", "--tx-key", enc_in]
    if v["udp"]:
        host_args.append("--udp")
    if v["esn"]:
        host_args.append("--esn")
    hlog = os.path.join(TMP, f"{name}.host.log")
    host = procs.start([PY, HOST, "daemon"] + host_args + ["--rx-spi", "0x1001", "--rx-key", enc_out, "--tun", "edp-tun"],
                       NS_PEER, hlog)
    if not wait_for(hlog, "esp-host: ready", host):
        report(False, f"{name}.start", f"ESP host did not start: {open(hlog).read()[-600:]}")
        return
    sh(["ip", "link", "set", "edp-tun", "up"], NS_PEER)
    sh(["ip", "addr", "add", "10.20.0.1/24", "dev", "edp-tun"], NS_PEER)
    sh(["ip", "addr", "add", "fd00:20::1/64", "dev", "edp-tun", "nodad"], NS_PEER)
    sh(["ip", "route", "add", "10.10.0.0/24", "dev", "edp-tun", "src", "10.20.0.1"], NS_PEER)
    sh(["ip", "-6", "route", "add", "fd00:10::/64", "dev", "edp-tun", "src", "fd00:20::1"], NS_PEER)
    sh(["ip", "route", "add", "10.20.0.0/24", "via", "10.10.0.1"], NS_LAN)
    sh(["ip", "-6", "route", "add", "fd00:20::/64", "via", "fd00:10::1"], NS_LAN)
    srv = procs.start([PY, "-c", ECHO_SERVER, "10.10.0.2"], NS_LAN, os.path.join(TMP, f"{name}.echo.log"))
    srv6 = procs.start([PY, "-c", ECHO_SERVER, "fd00:10::2"], NS_LAN, os.path.join(TMP, f"{name}.echo6.log"))
    wait_for(os.path.join(TMP, f"{name}.echo.log"), "ready", srv, 5)
    wait_for(os.path.join(TMP, f"{name}.echo6.log"), "ready", srv6, 5)
    try:
        tunnel_cases(v, name, base)
    finally:
        try:
            st = stats()
            with open(os.path.join(TMP, f"{name}.stats.json"), "w") as f:
                json.dump(st, f, indent=1)
        except OSError:
            pass
        sh(["ip", "route", "del", "10.20.0.0/24"], NS_LAN, check=False)
        sh(["ip", "-6", "route", "del", "fd00:20::/64"], NS_LAN, check=False)
        procs.stop_all()
        time.sleep(0.3)


def tunnel_cases(v, name, base):
    ok, last = ping(NS_PEER, "10.10.0.2", extra=["-I", "10.20.0.1"])
    report(ok, f"{name}.ping_peer_to_lan", last[0])
    ok, last = ping(NS_LAN, "10.20.0.1")
    report(ok, f"{name}.ping_lan_to_peer", last[0])
    p = sh([PY, "-c", TCP_CLIENT, "10.10.0.2", "300000"], NS_PEER, check=False, timeout=40)
    report(p.stdout.strip() == "ok", f"{name}.tcp_echo_300k", (p.stdout + p.stderr).strip()[-200:])
    p = sh([PY, "-c", UDP_CLIENT, "10.10.0.2", "40"], NS_PEER, check=False, timeout=120)
    got = p.stdout.strip()
    report(got.split("/")[0].isdigit() and int(got.split("/")[0]) >= 38, f"{name}.udp_echo_40", got or p.stderr[-200:])
    ok, last = ping(NS_PEER, "fd00:10::2", extra=["-I", "fd00:20::1"])
    report(ok, f"{name}.ping6_inner_ipv6", last[0])
    st = stats()
    report(st["path"]["inbound_packets"] > 0 and st["path"]["outbound_packets"] > 0, f"{name}.counters_in_out",
           json.dumps(st["path"]))
    if v.get("workers", 1) > 1:
        # RSS over two workers: SA state is written by its owner only (hand-off), so no
        # replay-window false drops and TCP (ordering per flow) completes.
        p = sh([PY, "-c", TCP_CLIENT, "10.10.0.2", "600000"], NS_PEER, check=False, timeout=180)
        d = drops()
        replay = d["esp_replay_duplicate"] + d["esp_replay_old"]
        report(p.stdout.strip() == "ok" and replay == 0, f"{name}.tcp_600k_no_replay_false_drops",
               f"{(p.stdout + p.stderr).strip()[-300:]} replay drops {replay}")
        w = stats("workers")
        report(all(x["busy_polls"] > 0 for x in w) and stats()["path"]["handed_off"] > 0,
               f"{name}.both_workers_busy_and_handoff_used",
               f"busy {[x['busy_polls'] for x in w]} handed_off {stats()['path']['handed_off']}")
    if not base:
        return
    base_cases(v, name)


def oneshot(v, kind, seq):
    local, remote = ("2001:db8:1::2", "2001:db8:1::1") if v["outer6"] else ("192.0.2.2", "192.0.2.1")
    cfgs = [l for l in open(os.path.join(TMP, f"{v['name']}.toml")).read().splitlines() if l.startswith("keymat")]
    key_in = cfgs[1].split('"')[1]
    args = ["--suite", v["suite"], "--local", local, "--remote", remote, "--tx-spi", "0x2001", "--tx-key", key_in,
            "--kind", kind, "--seq", str(seq), "--src", "10.20.0.1", "--dst", "10.10.0.2"]
    if v["udp"]:
        args.append("--udp")
    sh([PY, HOST, "oneshot"] + args, NS_PEER)


def base_cases(v, name):
    for ns, dst in ((NS_PEER, "192.0.2.1"), (NS_PEER, "2001:db8:1::1"), (NS_LAN, "10.10.0.1"), (NS_LAN, "fd00:10::1")):
        ok, last = ping(ns, dst, count=2)
        report(ok, f"gw_echo_{dst}", last[0])
    ok, last = ping(NS_LAN, "192.0.2.2", count=2, extra=["-I", "10.10.0.200"])
    report(ok, "bypass_cleartext_lan_to_outside", last[0])

    # A replayed packet: sequence number 1 was used by the first ping (RFC 4303 §3.4.3).
    d0 = drops()
    oneshot(v, "replay", 1)
    time.sleep(0.5)
    d1 = drops()
    report(d1["esp_replay_duplicate"] == d0["esp_replay_duplicate"] + 1, "replayed_esp_dropped_replay_duplicate",
           f"esp_replay_duplicate {d0['esp_replay_duplicate']} -> {d1['esp_replay_duplicate']}")
    oneshot(v, "bitflip", 500)
    time.sleep(0.5)
    d2 = drops()
    report(d2["esp_icv_mismatch"] == d1["esp_icv_mismatch"] + 1, "bitflipped_esp_dropped_icv_mismatch",
           f"esp_icv_mismatch {d1['esp_icv_mismatch']} -> {d2['esp_icv_mismatch']}")
    ok, last = ping(NS_PEER, "10.10.0.2", extra=["-I", "10.20.0.1"])
    report(ok, "traffic_flows_after_bad_packets", last[0])

    # PMTU: AES-GCM tunnel over IPv4, no UDP: 20 outer + 8 ESP + 8 IV + 16 ICV, payload
    # + 2 trailer bytes padded to 4 (RFC 4303 §2.4): max inner = (1500-52)//4*4 - 2.
    expect = (1500 - 52) // 4 * 4 - 2
    probe = (
        "import logging; logging.getLogger('scapy.runtime').setLevel(logging.ERROR)\n"
        "from scapy.all import IP, ICMP, Raw, sr1, conf\n"
        "conf.verb = 0\n"
        f"r = sr1(IP(dst='10.20.0.1', flags='DF')/ICMP()/Raw(b'x' * {1500 - 28}), timeout=3)\n"
        "print('none' if r is None else f'{r[ICMP].type} {r[ICMP].code} {r[ICMP].nexthopmtu} {r[IP].src}')\n")
    p = sh([PY, "-c", probe], NS_LAN, check=False, timeout=20)
    got = p.stdout.strip()
    report(got == f"3 4 {expect} 10.10.0.1", "df_oversize_gets_frag_needed_with_mtu",
           f"got '{got}' expected '3 4 {expect} 10.10.0.1' {p.stderr[-200:]}")
    ok, last = ping(NS_LAN, "10.20.0.1", count=2, extra=["-M", "do", "-s", str(expect - 28)])
    report(ok, "df_packet_of_exactly_the_tunnel_mtu_passes", last[0])
    # IPv6 inner packets are never fragmented en route: ICMPv6 Packet Too Big (RFC 4443 §3.2).
    p = sh(["ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s", "1452", "fd00:20::1"], NS_LAN, check=False)
    report(f"Packet too big: mtu={expect}" in p.stdout, "ipv6_oversize_gets_packet_too_big_with_mtu",
           (p.stdout + p.stderr).strip().splitlines()[1:2])
    ok, last = ping(NS_LAN, "fd00:20::1", count=2, extra=["-s", str(expect - 48)])
    report(ok, "ipv6_packet_of_exactly_the_tunnel_mtu_passes", last[0])

    # DF clear and larger than the tunnel MTU: fragmented before encryption, the peer's
    # kernel reassembles the inner datagram and answers. (The lan kernel's own fragments
    # reach espgw-dp already reassembled: DPDK's net_af_packet opens its socket with
    # PACKET_FANOUT_FLAG_DEFRAG, so on this test bed the kernel also reassembles outer
    # ESP fragments before espgw-dp's rte_ip_frag path sees them.)
    s0 = stats()["path"]
    ok, last = ping(NS_LAN, "10.20.0.1", count=2, extra=["-M", "dont", "-s", "1800"])
    s1 = stats()["path"]
    report(ok and s1["fragments_made"] > s0["fragments_made"], "df_clear_oversize_fragmented_before_encryption",
           f"{last[0]} fragments_made {s0['fragments_made']} -> {s1['fragments_made']}")
    ok, last = ping(NS_PEER, "10.10.0.2", count=2, extra=["-I", "10.20.0.1", "-s", "1800"])
    report(ok, "oversize_from_peer_outer_fragments_accepted", last[0])

    # IKE (UDP 500) to the gateway is punted to the control process's ring.
    p0 = stats()["path"]["punted"]
    sh([PY, "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.bind(('192.0.2.2', 500)); s.sendto(b'\\0'*28, ('192.0.2.1', 500))"], NS_PEER)
    time.sleep(0.5)
    p1 = stats()["path"]["punted"]
    report(p1 == p0 + 1, "ike_udp500_punted", f"punted {p0} -> {p1}")
    w = stats("workers")[0]
    report(w["sleeps"] > 0, "idle_backoff_sleeps_when_idle", f"sleeps {w['sleeps']} of {w['iterations']} iterations")


VARIANTS = [
    dict(name="gcm128_v4", suite="aes128gcm16", udp=False, esn=False, outer6=False, base=True),
    dict(name="gcm128_v4_udp4500", suite="aes128gcm16", udp=True, esn=False, outer6=False),
    dict(name="gcm128_v4_esn", suite="aes128gcm16", udp=False, esn=True, outer6=False),
    dict(name="cbc_sha256_v4", suite="aes128-sha256", udp=False, esn=False, outer6=False),
    dict(name="cbc_sha256_v4_udp4500", suite="aes128-sha256", udp=True, esn=False, outer6=False),
    dict(name="chacha20_v4_udp4500_esn", suite="chacha20poly1305", udp=True, esn=True, outer6=False),
    dict(name="gcm256_v4_in_v6", suite="aes256gcm16", udp=False, esn=False, outer6=True),
    dict(name="gcm128_v4_2workers_rss", suite="aes128gcm16", udp=False, esn=False, outer6=False, workers=2, queues=2),
]


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--binary", default="")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", action="store_true", help="keep namespaces and logs")
    ARGS = ap.parse_args()
    if not ARGS.binary:
        build = os.environ.get("ESPGW_BUILD_DIR") or os.path.join(ROOT, ARGS.build_dir)
        ARGS.binary = os.path.join(build, "dataplane", "dp", "espgw-dp")
    if not os.access(ARGS.binary, os.X_OK):
        report(False, "espgw_dp_binary", f"{ARGS.binary} not built")
        sys.exit(1)
    procs = Procs()
    try:
        topology()
        for v in VARIANTS:
            if ARGS.only and ARGS.only not in v["name"]:
                continue
            run_variant(v, procs, v.get("base", False))
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure, never a skip
        report(False, "testbed", str(e))
    finally:
        procs.stop_all()
        if not ARGS.keep:
            cleanup()
    print(f"logs: {TMP}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

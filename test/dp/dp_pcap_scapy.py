#!/usr/bin/python3
"""espgw-dp on net_pcap vdevs: packets crafted with scapy in, bytes checked out.

Deterministic companion of dp_e2e_scapy.py for what net_af_packet cannot show (its
socket reassembles IP fragments in the kernel, PACKET_FANOUT_FLAG_DEFRAG):
  - outer ESP fragments, out of order, are reassembled by espgw-dp (rte_ip_frag),
    decrypted, and the inner packet leaves the inside port intact (TTL - 1);
  - cleartext entering the inside port leaves the outside port as ESP that scapy
    decrypts back to the same inner packet;
  - a bypass packet is forwarded unchanged but for the TTL.
Static neighbours, broadcast destination MACs: no ARP needed. Prints TESTCASE lines.
  dp_pcap_scapy.py [--build-dir build] [--binary PATH]
"""
import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, ICMP, UDP, Raw, PcapWriter, rdpcap, fragment  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = tempfile.mkdtemp(prefix="edp-pcap-")
results = []


def report(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def write_pcap(path, frames):
    w = PcapWriter(path, linktype=1, sync=True)
    for f in frames:
        w.write(f)
    w.close()


def stats(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"stats\n")
    d = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        d += x
    return json.loads(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--binary", default="")
    args = ap.parse_args()
    binary = args.binary or os.path.join(os.environ.get("ESPGW_BUILD_DIR") or os.path.join(ROOT, args.build_dir),
                                         "dataplane", "dp", "espgw-dp")
    if not os.access(binary, os.X_OK):
        report(False, "espgw_dp_binary", f"{binary} not built")
        sys.exit(1)
    # A bad configuration is refused before EAL starts, naming the key and the problem.
    bad = os.path.join(TMP, "bad.toml")
    with open(bad, "w") as f:
        f.write('[[port]]\nname = "o"\nrole = "outside"\ndevice = "net_null0"\n'
                '[[port]]\nname = "i"\nrole = "inside"\ndevice = "net_null1"\nmtu = 99999\n')
    r = subprocess.run([binary, "--config", bad], capture_output=True, text=True, timeout=20)
    report(r.returncode == 2 and "port[1].mtu: 99999 is out of range 576..9216" in r.stderr,
           "bad_config_refused_with_key_path", f"rc={r.returncode} {r.stderr.strip()[-200:]}")

    k_in, k_out = secrets.token_bytes(20), secrets.token_bytes(20)
    sa_in = SecurityAssociation(ESP, spi=0x2001, crypt_algo="AES-GCM", crypt_key=k_in,
                                tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"))
    sa_out = SecurityAssociation(ESP, spi=0x1001, crypt_algo="AES-GCM", crypt_key=k_out,
                                 tunnel_header=IP(src="192.0.2.1", dst="192.0.2.2"))
    bcast = "ff:ff:ff:ff:ff:ff"
    # Outside: one big ESP packet in two outer fragments, last one first.
    inner_big = IP(src="10.20.0.1", dst="10.10.0.2", ttl=30, id=7) / UDP(sport=1234, dport=5678) / Raw(
        bytes(range(256)) * 5)
    outer = sa_in.encrypt(inner_big)
    outer = IP(bytes(outer))
    outer.id = 4242
    frags = fragment(outer, fragsize=800)
    out_rx = [Ether(dst=bcast, src="02:00:00:00:02:02") / f for f in reversed(frags)]
    # Inside: cleartext to protect, and a bypass packet.
    inner_out = IP(src="10.10.0.2", dst="10.20.0.1", ttl=40, id=9) / ICMP(id=1, seq=1) / Raw(b"espgw" * 20)
    bypass = IP(src="10.10.0.2", dst="192.0.2.2", ttl=40, id=10) / UDP(sport=1, dport=2) / Raw(b"clear")
    in_rx = [Ether(dst=bcast, src="02:00:00:00:01:02") / inner_out, Ether(dst=bcast, src="02:00:00:00:01:02") / bypass]
    p = lambda n: os.path.join(TMP, n)  # noqa: E731
    write_pcap(p("out_rx.pcap"), out_rx)
    write_pcap(p("in_rx.pcap"), in_rx)
    cfg = f"""
[dataplane]
workers = 1
hugepages = "off"
[[port]]
name = "outside"
role = "outside"
device = "net_pcap0,rx_pcap={p('out_rx.pcap')},tx_pcap={p('out_tx.pcap')}"
addresses = ["192.0.2.1/24"]
[[port]]
name = "inside"
role = "inside"
device = "net_pcap1,rx_pcap={p('in_rx.pcap')},tx_pcap={p('in_tx.pcap')}"
addresses = ["10.10.0.1/24"]
[[neighbor]]
address = "192.0.2.2"
mac = "02:00:00:00:02:02"
port = "outside"
[[neighbor]]
address = "10.10.0.2"
mac = "02:00:00:00:01:02"
port = "inside"
[[sa]]
id = 1
spi = 0x1001
direction = "out"
suite = "aes128gcm16"
keymat = "{k_out.hex()}"
tunnel_src = "192.0.2.1"
tunnel_dst = "192.0.2.2"
[[sa]]
id = 2
spi = 0x2001
direction = "in"
suite = "aes128gcm16"
keymat = "{k_in.hex()}"
tunnel_src = "192.0.2.2"
tunnel_dst = "192.0.2.1"
[[policy]]
priority = 10
src = "10.10.0.0/24"
dst = "10.20.0.0/24"
action = "protect"
sa = 1
[[policy]]
priority = 100
dst = "0.0.0.0/0"
action = "bypass"
"""
    with open(p("dp.toml"), "w") as f:
        f.write(cfg)
    sock = p("stats.sock")
    log = open(p("dp.log"), "w")
    dp = subprocess.Popen([binary, "--config", p("dp.toml"), "--file-prefix", "dp-pcap", "--stats-socket", sock],
                          stdout=log, stderr=subprocess.STDOUT)
    st = None
    for _ in range(100):
        time.sleep(0.1)
        if dp.poll() is not None:
            break
        if "ready:" in open(p("dp.log")).read():
            time.sleep(1.0)
            st = stats(sock)
            break
    if dp.poll() is None:
        dp.send_signal(signal.SIGTERM)
        try:
            dp.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dp.kill()
    if st is None:
        report(False, "pcap_dataplane_start", open(p("dp.log")).read()[-800:])
        sys.exit(1)
    in_tx = [IP(bytes(f[Ether].payload)) for f in rdpcap(p("in_tx.pcap"))] if os.path.exists(p("in_tx.pcap")) else []
    out_tx = [IP(bytes(f[Ether].payload)) for f in rdpcap(p("out_tx.pcap"))] if os.path.exists(p("out_tx.pcap")) else []

    want = IP(bytes(inner_big))
    want.ttl -= 1
    del want.chksum
    want = IP(bytes(want))
    got = [x for x in in_tx if x.src == "10.20.0.1"]
    report(st["path"]["reassembled"] == 1, "outer_esp_fragments_reassembled", f"reassembled={st['path']['reassembled']}")
    report(len(got) == 1 and bytes(got[0]) == bytes(want), "reassembled_esp_decrypted_inner_bytes_exact",
           f"{len(got)} packets; drops {[(k, v) for k, v in st['drops'].items() if v]}")

    esp = [x for x in out_tx if x.proto == 50]
    ok = False
    why = f"{len(esp)} ESP packets out"
    if len(esp) == 1:
        try:
            dec = sa_out.decrypt(esp[0])
            want2 = IP(bytes(inner_out))
            want2.ttl -= 1
            del want2.chksum
            ok = bytes(dec) == bytes(IP(bytes(want2)))
            why = f"inner differs: {dec!r}"
        except Exception as e:  # noqa: BLE001
            why = f"scapy cannot decrypt: {e}"
    report(ok, "inside_cleartext_leaves_as_esp_scapy_decrypts", why)
    byp = [x for x in out_tx if x.proto == 17 and x.dst == "192.0.2.2"]
    report(len(byp) == 1 and byp[0].ttl == 39 and bytes(byp[0][UDP].payload) == b"clear",
           "bypass_forwarded_with_ttl_decremented", f"{len(byp)} bypass packets")
    print(f"logs: {TMP}", flush=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""to_tunnel firewall rules naming the receiving tunnel's user group, user or IKE
connection (issue 5), on net_pcap vdevs: deterministic, no namespaces.

Four tunnels (outbound SAs with their firewall tags, as espgw-ike sets them on both SAs
of a CHILD_SA) behind one peer:
  alice 10.20.0.1  groups staff              connection rw      SPI 0x1001
  bob   10.20.0.2  groups staff, ops         connection rw      SPI 0x1002
  carol 10.20.0.3  groups guests, user:carol connection rw      SPI 0x1003
  site  10.30.0.0/24                         connection branch  SPI 0x1004
Rules (direction = "to_tunnel"): staff may receive TCP 22 from the LAN 10.10.0.0/24,
everything else to staff is dropped; no DNS into connection branch; UDP 5000 to
carol@example.com rejected (ICMP answer routed back to the LAN sender). The same mix
of packets enters the inside port for every tunnel; scapy decrypts what leaves the
outside port per SPI: exactly the allowed packets of each tunnel, and the per-rule
counters (show rules) match what was sent.
Prints "TESTCASE PASS|FAIL fw_to_tunnel.<name>[: reason]"; exits 1 if any failed.
  dp_fw_to_tunnel_pcap.py [--build-dir build] [--binary PATH]
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
from scapy.all import Ether, IP, ICMP, TCP, UDP, Raw, PcapWriter, rdpcap  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = tempfile.mkdtemp(prefix="fw-totun-")
results = []

TUNNELS = [  # name, inner destination, SPI, groups, connection
    ("alice", "10.20.0.1", 0x1001, ["staff"], "rw", "10.20.0.1/32"),
    ("bob", "10.20.0.2", 0x1002, ["staff", "ops"], "rw", "10.20.0.2/32"),
    ("carol", "10.20.0.3", 0x1003, ["guests", "user:carol@example.com"], "rw", "10.20.0.3/32"),
    ("site", "10.30.0.7", 0x1004, [], "branch", "10.30.0.0/24"),
]
# Per tunnel: (kind, source, protocol, port, count)
MIX = [
    ("ssh_lan", "10.10.0.2", "tcp", 22, 3),
    ("ssh_other", "10.99.0.9", "tcp", 22, 2),
    ("http", "10.10.0.2", "tcp", 80, 2),
    ("dns", "10.10.0.2", "udp", 53, 2),
    ("udp5000", "10.10.0.2", "udp", 5000, 1),
]


def allowed(tunnel, kind):
    """What the rule set below lets into each tunnel."""
    if tunnel in ("alice", "bob"):
        return kind == "ssh_lan"
    if tunnel == "carol":
        return kind != "udp5000"
    return kind != "dns"


RULES = """
[firewall]
default = "allow"
default_to_tunnel = "allow"

[[firewall.rule]]
comment = "staff: SSH from the LAN"
direction = "to_tunnel"
destination_group = "staff"
source = "10.10.0.0/24"
protocol = "tcp"
ports = 22
action = "allow"

[[firewall.rule]]
comment = "staff: nothing else"
direction = "to_tunnel"
destination_group = "staff"
action = "drop"

[[firewall.rule]]
comment = "branch: no DNS into the site"
direction = "to_tunnel"
connection = "branch"
protocol = "udp"
ports = 53
action = "drop"

[[firewall.rule]]
comment = "carol: no UDP 5000"
direction = "to_tunnel"
destination_user = "carol@example.com"
protocol = "udp"
ports = 5000
action = "reject"

[[firewall.rule]]
comment = "from_tunnel rule naming staff: must not see traffic into tunnels"
source_group = "staff"
action = "drop"
"""


def report(ok, name, why=""):
    results.append(bool(ok))
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} fw_to_tunnel.{name}" + ("" if ok else f": {why}"), flush=True)


def write_pcap(path, frames):
    w = PcapWriter(path, linktype=1, sync=True)
    for f in frames:
        w.write(f)
    w.close()


def query(path, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    d = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        d += x
    s.close()
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
    p = lambda n: os.path.join(TMP, n)  # noqa: E731
    bcast = "ff:ff:ff:ff:ff:ff"
    keys = {t[0]: secrets.token_bytes(20) for t in TUNNELS}
    frames, sent = [], []  # sent: (tunnel, kind, ip id)
    ident = 100
    for name, dst, _, _, _, _ in TUNNELS:
        for kind, src, proto, port, count in MIX:
            for _ in range(count):
                ident += 1
                l4 = TCP(sport=40000 + ident, dport=port, flags="S") if proto == "tcp" else UDP(sport=40000 + ident,
                                                                                               dport=port)
                pkt = IP(src=src, dst=dst, ttl=40, id=ident) / l4 / Raw(b"to_tunnel" * 4)
                frames.append(Ether(dst=bcast, src="02:00:00:00:01:02") / pkt)
                sent.append((name, kind, ident, pkt))
    write_pcap(p("in_rx.pcap"), frames)
    write_pcap(p("out_rx.pcap"), [])
    cfg = [
        "[dataplane]", "workers = 1", 'hugepages = "off"',
        "[[port]]", 'name = "outside"', 'role = "outside"',
        f'device = "net_pcap0,rx_pcap={p("out_rx.pcap")},tx_pcap={p("out_tx.pcap")}"', 'addresses = ["192.0.2.1/24"]',
        "[[port]]", 'name = "inside"', 'role = "inside"',
        f'device = "net_pcap1,rx_pcap={p("in_rx.pcap")},tx_pcap={p("in_tx.pcap")}"', 'addresses = ["10.10.0.1/24"]',
        "[[route]]", 'prefix = "10.99.0.0/16"', 'via = "10.10.0.2"', 'port = "inside"',
        "[[neighbor]]", 'address = "192.0.2.2"', 'mac = "02:00:00:00:02:02"', 'port = "outside"',
        "[[neighbor]]", 'address = "10.10.0.2"', 'mac = "02:00:00:00:01:02"', 'port = "inside"',
    ]
    for i, (name, _, spi, groups, conn, net) in enumerate(TUNNELS):
        cfg += ["[[sa]]", f"id = {i + 1}", f"spi = {spi:#x}", 'direction = "out"', 'suite = "aes128gcm16"',
                f'keymat = "{keys[name].hex()}"', 'tunnel_src = "192.0.2.1"', 'tunnel_dst = "192.0.2.2"',
                f'connection = "{conn}"'] + ([f"groups = {json.dumps(groups)}"] if groups else [])
        cfg += ["[[policy]]", f"priority = {10 + i}", f'dst = "{net}"', 'action = "protect"', f"sa = {i + 1}"]
    with open(p("dp.toml"), "w") as f:
        f.write("\n".join(cfg) + "\n" + RULES)
    sock = p("stats.sock")
    log = open(p("dp.log"), "w")
    dp = subprocess.Popen([binary, "--config", p("dp.toml"), "--file-prefix", "fw-totun", "--stats-socket", sock],
                          stdout=log, stderr=subprocess.STDOUT)
    st = rules = None
    for _ in range(150):
        time.sleep(0.1)
        if dp.poll() is not None:
            break
        if "ready:" in open(p("dp.log")).read():
            time.sleep(1.0)
            st = query(sock, "show sa")
            rules = query(sock, "show rules")
            break
    if dp.poll() is None:
        dp.send_signal(signal.SIGTERM)
        try:
            dp.wait(timeout=10)
        except subprocess.TimeoutExpired:
            dp.kill()
    if st is None or rules is None:
        report(False, "dataplane_start", open(p("dp.log")).read()[-800:])
        sys.exit(1)
    report(True, "dataplane_start")
    out_tx = [IP(bytes(f[Ether].payload)) for f in rdpcap(p("out_tx.pcap"))] if os.path.exists(p("out_tx.pcap")) else []
    in_tx = [IP(bytes(f[Ether].payload)) for f in rdpcap(p("in_tx.pcap"))] if os.path.exists(p("in_tx.pcap")) else []

    other = [x for x in out_tx if x.proto != 50 or x[ESP].spi not in {t[2] for t in TUNNELS}]
    report(not other, "nothing_else_leaves_outside", f"{len(other)} other packets")
    # Each tunnel got exactly its allowed packets, decrypted byte for byte (TTL - 1).
    by_spi = {}
    for x in out_tx:
        if x.proto == 50:
            by_spi.setdefault(x[ESP].spi, []).append(x)
    for name, _, spi, _, _, _ in TUNNELS:
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=keys[name],
                                 tunnel_header=IP(src="192.0.2.1", dst="192.0.2.2"))
        want = {}
        for t, kind, i, pkt in sent:
            if t == name and allowed(t, kind):
                w = IP(bytes(pkt))
                w.ttl -= 1
                del w.chksum
                want[i] = bytes(IP(bytes(w)))
        got, why = {}, ""
        for x in by_spi.get(spi, []):
            try:
                d = sa.decrypt(x)
                got[d.id] = bytes(d)
            except Exception as e:  # noqa: BLE001
                why = f"scapy cannot decrypt: {e}"
        kinds = sorted({k for t, k, _, _ in sent if t == name and allowed(t, k)})
        report(got == want and not why, f"{name}_receives_exactly_{'+'.join(kinds)}",
               why or f"ids got {sorted(got)} want {sorted(want)}; "
               f"equal bytes {sum(1 for i in got if got[i] == want.get(i))}")

    # The reject: one ICMP destination unreachable to the LAN sender, quoting carol's packet.
    rej = [x for x in in_tx if x.haslayer(ICMP) and x[ICMP].type == 3]
    quoted = [x for x in rej if x.dst == "10.10.0.2" and bytes(x[ICMP].payload)[16:20] == bytes([10, 20, 0, 3])]
    report(len(rej) == 1 and len(quoted) == 1, "reject_answered_to_the_lan_sender",
           f"{len(rej)} ICMP unreachable, {len(quoted)} quoting 10.20.0.3; in_tx {[x.summary() for x in in_tx]}")

    # Counters: per rule, the to_tunnel default, and the drop/reject totals.
    def n(pred):
        return sum(count for t in TUNNELS for kind, _, _, _, count in MIX if pred(t[0], kind))
    want_hits = [
        n(lambda t, k: t in ("alice", "bob") and k == "ssh_lan"),
        n(lambda t, k: t in ("alice", "bob") and k != "ssh_lan"),
        n(lambda t, k: t == "site" and k == "dns"),
        n(lambda t, k: t == "carol" and k == "udp5000"),
        0,
    ]
    want_default = n(lambda t, k: t in ("carol", "site") and allowed(t, k))
    hits = [r["packets"] for r in rules["rules"]]
    report(hits == want_hits and rules["default_to_tunnel_packets"] == want_default and
           rules["default_packets"] == 0, "rule_counters_match_traffic",
           f"hits {hits} want {want_hits}; default_to_tunnel {rules['default_to_tunnel_packets']} want "
           f"{want_default}; default {rules['default_packets']}")
    report(rules["dropped"] == want_hits[1] + want_hits[2] and rules["rejected"] == 1 and rules["rejects_sent"] == 1,
           "drop_and_reject_totals", f"dropped {rules['dropped']} rejected {rules['rejected']} "
           f"rejects_sent {rules['rejects_sent']}")
    r0 = rules["rules"][0]
    report(r0["destination_group"] == ["staff"] and r0["source_group"] == [] and r0["direction"] == "to_tunnel" and
           rules["rules"][3]["destination_user"] == ["carol@example.com"] and
           rules["rules"][4]["source_group"] == ["staff"], "show_rules_names_destination_tags", json.dumps(r0))
    sas = {s["spi"]: s for s in st if s.get("direction") == "out"}
    tagged = sas.get(0x1002, {})
    report(tagged.get("groups") == ["staff", "ops"] and tagged.get("connection") == ["rw"],
           "outbound_sa_shows_its_tags", json.dumps(tagged)[:300])
    print(f"fw_to_tunnel: {sum(results)}/{len(results)} passed (logs in {TMP})", flush=True)
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

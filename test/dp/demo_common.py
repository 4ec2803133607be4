#!/usr/bin/python3
"""Shared helpers for the espgw-dp demo (scripts/demo, test/dp/demo_dataplane.py) and the
back-to-back test (test/dp/dp_b2b_iperf.py).

Process, shell and ping helpers come from test/dp/dp_e2e_scapy.py; this module adds what
those tests need on top: a parameterised espgw-dp TOML (any interface names, addresses,
SA pair and protected prefixes), a stats-socket query by path, namespace set-up with a
caller-chosen prefix, and a readable rendering of espgw-dp's counters.
"""
import json
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_e2e_scapy as e2e  # noqa: E402

# dp_e2e_scapy makes its own log directory on import; these tools keep theirs elsewhere.
shutil.rmtree(e2e.TMP, ignore_errors=True)

ROOT, PY, HOST = e2e.ROOT, e2e.PY, e2e.HOST
sh, Procs, wait_for, ping = e2e.sh, e2e.Procs, e2e.wait_for, e2e.ping
TX_CSUM_OFF, ECHO_SERVER, TCP_CLIENT, SUITE_KEYS = e2e.TX_CSUM_OFF, e2e.ECHO_SERVER, e2e.TCP_CLIENT, e2e.SUITE_KEYS


def binary(build_dir):
    """Path of espgw-dp in a build directory (ESPGW_BUILD_DIR wins, as in test/run_all.py)."""
    build = os.environ.get("ESPGW_BUILD_DIR") or build_dir
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    return os.path.join(build, "dataplane", "dp", "espgw-dp")


def del_netns(names):
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def add_netns(names):
    del_netns(names)
    for ns in names:
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns)


def veth(a, ns_a, b, ns_b):
    sh(["ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b])


def dp_port_link(ns, ifname):
    """Bring up a veth end that espgw-dp owns (net_af_packet): the kernel keeps quiet on it."""
    sh(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], ns)
    sh(["ip", "link", "set", ifname, "up"], ns)


def host_link(ns, ifname, addr, gw=None):
    """A kernel host end: address, default route, TX checksum offload off (see TX_CSUM_OFF)."""
    sh(["ip", "link", "set", ifname, "up"], ns)
    sh(["ip", "addr", "add", addr, "dev", ifname], ns)
    if gw:
        sh(["ip", "route", "add", "default", "via", gw], ns)
    sh([PY, "-c", TX_CSUM_OFF, ifname], ns)


def dp_config(*, outside_if, outside_addr, inside_if, inside_addr, local, remote, out_spi, out_key, in_spi, in_key,
              protect_src, protect_dst, suite="aes128gcm16", udp=False, esn=False):
    """espgw-dp TOML: two net_af_packet ports, one outbound and one inbound tunnel SA, a
    protect policy protect_src -> protect_dst, and bypass for everything else."""
    common = f'suite = "{suite}"\nmode = "tunnel"\nudp_encap = {str(udp).lower()}\nesn = {str(esn).lower()}\n'
    return f"""
[dataplane]
workers = 1
idle_backoff = true
hugepages = "off"
memory_mb = 256

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface={outside_if}"
addresses = ["{outside_addr}"]
mtu = 1500

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface={inside_if}"
addresses = ["{inside_addr}"]
mtu = 1500

[[sa]]
id = 1
spi = {out_spi:#x}
direction = "out"
keymat = "{out_key}"
tunnel_src = "{local}"
tunnel_dst = "{remote}"
{common}
[[sa]]
id = 2
spi = {in_spi:#x}
direction = "in"
keymat = "{in_key}"
tunnel_src = "{remote}"
tunnel_dst = "{local}"
replay_window = 1024
{common}
[[policy]]
priority = 10
src = "{protect_src}"
dst = "{protect_dst}"
action = "protect"
sa = 1

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"
"""


def query(sock_path, cmd="stats"):
    """One command on espgw-dp's stats socket; the JSON answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock_path)
    s.sendall(cmd.encode() + b"\n")
    data = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        data += x
    s.close()
    return json.loads(data)


def start_dp(procs, bin_path, ns, cfg_text, tmp, name):
    """Write the config, start espgw-dp in ns with its own file prefix and stats socket.
    Returns (stats socket path, None) or (None, reason)."""
    cfg = os.path.join(tmp, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    log = os.path.join(tmp, f"{name}.dp.log")
    sock = os.path.join(tmp, f"{name}.sock")
    p = procs.start([bin_path, "--config", cfg, "--file-prefix", name, "--stats-socket", sock], ns, log)
    if not wait_for(log, "ready:", p, timeout=30):
        return None, f"espgw-dp {name} did not start: {open(log).read()[-600:]}"
    return sock, None


def format_counters(st, title="espgw-dp"):
    """Readable text of a `stats` answer: ports, path, SAs, non-zero drops by reason."""
    out = [f"  {title}: ports"]
    out.append(f"    {'port':<8} {'role':<8} {'rx pkts':>9} {'rx bytes':>11} {'tx pkts':>9} {'tx bytes':>11} {'tx drop':>7}")
    for p in st["ports"]:
        out.append(f"    {p['name']:<8} {p['role']:<8} {p['rx_packets']:>9} {p['rx_bytes']:>11} {p['tx_packets']:>9} "
                   f"{p['tx_bytes']:>11} {p['tx_dropped']:>7}")
    pa = st["path"]
    out.append(f"  {title}: path  inbound (decrypted) {pa['inbound_packets']} pkts / {pa['inbound_bytes']} B, "
               f"outbound (encrypted) {pa['outbound_packets']} pkts / {pa['outbound_bytes']} B, "
               f"bypass {pa['bypass_packets']}, local {pa['local_packets']}, icmp sent {pa['icmp_sent']}, "
               f"fragments made {pa['fragments_made']}")
    out.append(f"  {title}: SAs")
    out.append(f"    {'id':>3} {'dir':<4} {'spi':>10} {'packets':>9} {'bytes':>11} {'seq':>9}")
    for s in st["sa"]:
        out.append(f"    {s['id']:>3} {s['direction']:<4} {s['spi']:#010x} {s['packets']:>9} {s['bytes']:>11} {s['seq']:>9}")
    nz = {k: v for k, v in st["drops"].items() if v}
    out.append(f"  {title}: drops by reason: " + (", ".join(f"{k}={v}" for k, v in sorted(nz.items())) or
                                                 "none (all reasons 0)"))
    return "\n".join(out)

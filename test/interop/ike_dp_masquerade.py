#!/usr/bin/python3
"""Two strongSwan road warriors behind a NAT reach an Internet host through espgw's
masquerade (issue 5's proof, with the real control process).

    eikm-rw1 10.66.1.2 ──┐                   eikm-gw                              
    eikm-rw2 10.66.2.2 ──┤ eikm-nat          espgw-dp (net_af_packet) + espgw-ike --dataplane
      charon each,       │ MASQUERADE        outside 192.0.2.1 (the public address)
      kernel-libipsec    │ 192.0.2.2 ======= eikm-go
                         │ "Internet" host 203.0.113.5 (lo)

Each road warrior negotiates IKEv2 with espgw-ike (through espgw-dp's punt/inject
rings), gets a virtual IP from 10.99.9.0/24 and tunnels 203.0.113.0/24. espgw-dp
decrypts, runs the firewall, masquerades the virtual IPs to 192.0.2.1 and routes the
packets back out of the outside port to the Internet host; the replies are
translated back and encrypted into the right tunnel. tcpdump on the Internet side
proves the host only ever sees 192.0.2.1.

Cases: both tunnels up with distinct virtual IPs; ping, UDP echo and a TCP transfer
from each road warrior to the host; iperf3 from both at once; a few thousand short
TCP and UDP flows (1,000 + 1,000 per road warrior) from both at once; NAT sessions in
espgw-dp; the host never sees a virtual IP.

Prints TESTCASE lines; exits 1 if any failed. A daemon or charon that fails to start
is a FAIL.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
DP_BIN = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
sys.path.insert(0, os.path.join(ROOT, "test", "dp"))
import demo_common as dc  # noqa: E402
import dp_nat_scapy as natt  # noqa: E402  (echo server, UDP and short-flow clients)
import swan  # noqa: E402

shutil.rmtree(natt.TMP, ignore_errors=True)  # that module's own log dir
RWS = {"eikm-rw1": ("10.66.1.2", "10.66.1.1", "eikm-r1", "eikm-a1", "rw1@example.com"),
       "eikm-rw2": ("10.66.2.2", "10.66.2.1", "eikm-r2", "eikm-a2", "rw2@example.com")}
NAT, GW = "eikm-nat", "eikm-gw"
HOST, PUB = "203.0.113.5", "192.0.2.1"
N_FLOWS = 1000  # short TCP connections and UDP exchanges per road warrior
PSK = "eikm-masquerade-secret-0123456789"
PREFIX = "eikm-dp"
PY = "/usr/bin/python3"
results = []


def result(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def sh(cmd, ns=None, check=True, timeout=60):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {(p.stderr or p.stdout).strip()}")
    return p


def cleanup():
    for ns in list(RWS) + [NAT, GW]:
        subprocess.run(f"ip netns pids {ns} 2>/dev/null | xargs -r kill -9", shell=True, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def setup_net():
    cleanup()
    for ns in list(RWS) + [NAT, GW]:
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns)
    for ns, (addr, gw, dev, peer, _) in RWS.items():
        sh(["ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", NAT])
        sh(["ip", "addr", "add", f"{addr}/24", "dev", dev], ns)
        sh(["ip", "link", "set", dev, "up"], ns)
        sh(["ip", "route", "add", "default", "via", gw], ns)
        sh(["ip", "addr", "add", f"{gw}/24", "dev", peer], NAT)
        sh(["ip", "link", "set", peer, "up"], NAT)
    sh(["ip", "link", "add", "eikm-n1", "netns", NAT, "type", "veth", "peer", "name", "eikm-go", "netns", GW])
    sh(["ip", "addr", "add", "192.0.2.2/24", "dev", "eikm-n1"], NAT)
    sh(["ip", "link", "set", "eikm-n1", "up"], NAT)
    sh(["ip", "addr", "add", f"{HOST}/32", "dev", "lo"], NAT)
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"], NAT)
    sh(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], NAT)
    sh(["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eikm-n1", "-s", "10.66.0.0/16", "-j", "MASQUERADE"], NAT)
    sh([PY, "-c", dc.TX_CSUM_OFF, "eikm-n1"], NAT)
    dc.dp_port_link(GW, "eikm-go")


DP_CONFIG = """
[dataplane]
workers = 1
idle_backoff = true
hugepages = "on"

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=eikm-go,framecnt=4096"
addresses = ["192.0.2.1/24"]
mtu = 1500

[[route]]
prefix = "0.0.0.0/0"
via = "192.0.2.2"
port = "outside"

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"

[nat]
max_sessions = 20000

[[masquerade]]
source = "10.99.9.0/24"
port = "outside"

[firewall]
default = "allow"

[[firewall.pool]]
name = "rw"
cidr = "10.99.9.0/24"

[[firewall.rule]]
comment = "rw2 may not use UDP 5003"
source_user = "rw2@example.com"
protocol = "udp"
ports = 5003
action = "drop"

[[firewall.rule]]
comment = "the road-warrior pool"
source_pool = "rw"
action = "allow"
"""


TO_TUNNEL_RULE = """
[[firewall.rule]]
comment = "no UDP 5002 answers into rw2's tunnels"
direction = "to_tunnel"
connection = "rw2"
protocol = "udp"
source_ports = 5002
action = "drop"
"""


def ike_config():
    conns = "".join(f"""
[[connections]]
name = "{name}"
local_id = "gw.example.com"
remote_id = "{ident}"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["203.0.113.0/24"]
pool = "rw"
""" for name, ident in (("rw1", "rw1@example.com"), ("rw2", "rw2@example.com")))
    return f"""
[ike]
listen = "{PUB}"
dpd_delay = 0

[pools.rw]
cidr = "10.99.9.0/24"
{conns}"""


def swanctl_conf(rwdir, ident):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {PUB}
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    local {{
      auth = psk
      id = {ident}
    }}
    remote {{
      auth = psk
      id = gw.example.com
    }}
    children {{
      inet {{
        remote_ts = 203.0.113.0/24
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  ike-gw {{
    id-a = {ident}
    id-b = gw.example.com
    secret = "{PSK}"
  }}
}}
""")
    return path


def run(tmp, procs):
    setup_net()
    with open(os.path.join(tmp, "dp.toml"), "w") as f:
        f.write(DP_CONFIG)
    with open(os.path.join(tmp, "ike.toml"), "w") as f:
        f.write(ike_config())
    sock = os.path.join(tmp, "dp.sock")
    dp_log = os.path.join(tmp, "dp.log")
    dp = procs.start([DP_BIN, "--config", os.path.join(tmp, "dp.toml"), "--file-prefix", PREFIX,
                      "--stats-socket", sock], GW, dp_log)
    if not dc.wait_for(dp_log, "ready:", dp, 30):
        result(False, "espgw_dp_start", open(dp_log).read()[-600:])
        return
    ike_log = os.path.join(tmp, "ike.log")
    ike = procs.start([IKE_BIN, "-c", os.path.join(tmp, "ike.toml"), "--dataplane", PREFIX], GW, ike_log)
    if not dc.wait_for(ike_log, "attached to espgw-dp", ike, 20):
        result(False, "espgw_ike_attach", open(ike_log).read()[-600:])
        return
    srv_log = os.path.join(tmp, "server.log")
    srv = procs.start([PY, "-c", natt.SERVER, HOST], NAT, srv_log)
    dc.wait_for(srv_log, "ready", srv, 5)
    pcap = os.path.join(tmp, "inet.pcap")
    procs.start(["tcpdump", "-i", "eikm-n1", "-n", "-U", "-s", "96", "-w", pcap, "host", HOST],
                NAT, os.path.join(tmp, "tcpdump.log"))

    vips = {}
    for ns, (_, _, _, _, ident) in RWS.items():
        rwdir = os.path.join(tmp, ns)
        os.makedirs(rwdir)
        charon = swan.start_charon(ns, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=3))
        procs.procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, f"{ns}.strongswan_start", f"charon failed to start (rc {charon.poll()})")
            continue
        r = swan.swanctl(ns, rwdir, f"--load-all --noprompt --file {swanctl_conf(rwdir, ident)}")
        r = swan.swanctl(ns, rwdir, "--initiate --child inet --timeout 15", timeout=25)
        ls = swan.swanctl(ns, rwdir, "--list-sas").stdout
        m = re.search(r"@ \S+ \[(10\.99\.9\.\d+)\]", ls)
        ok = r.returncode == 0 and "INSTALLED" in ls and m
        result(bool(ok), f"{ns}.tunnel_up_with_virtual_ip", (r.stdout + r.stderr).strip()[-300:] + " / " + ls[-200:])
        if ok:
            vips[ns] = m.group(1)
    result(len(set(vips.values())) == 2, "distinct_virtual_ips", str(vips))
    if len(vips) != 2:
        return
    time.sleep(0.5)  # SPD publication and tcpdump attached

    for ns, vip in vips.items():
        ok, last = dc.ping(ns, HOST, count=3, extra=["-I", vip])
        result(ok, f"{ns}.ping_internet_host_through_masquerade", last[0])
        p = sh([PY, "-c", natt.UDP_ECHO, HOST, "5002", "20"], ns, check=False)
        result(p.stdout.strip() == "20/20", f"{ns}.udp_echo", (p.stdout + p.stderr).strip()[-200:])
        p = sh([PY, "-c", dc.TCP_CLIENT, HOST, "300000"], ns, check=False, timeout=90)
        result(p.stdout.strip() == "ok", f"{ns}.tcp_echo_300k_byte_exact", (p.stdout + p.stderr).strip()[-200:])

    # Firewall by user identity: espgw-ike tagged rw2's inbound SA with the group
    # "user:rw2@example.com" (a rule named it), not rw1's.
    u = {ns: sh([PY, "-c", natt.UDP_ECHO, HOST, "5003", "3"], ns, check=False).stdout.strip() for ns in vips}
    rules = dc.query(sock, "show rules")
    sas = [x for x in dc.query(sock, "stats").get("sa", []) if x.get("direction") == "in"]
    tagged = sorted(g for x in sas for g in x.get("groups", []) if g.startswith("user:"))
    hits = [x["packets"] for x in rules.get("rules", [])] if isinstance(rules, dict) else []
    result(u.get("eikm-rw1") == "3/3" and u.get("eikm-rw2") == "0/3" and hits[:1] == [3] and
           tagged == ["user:rw2@example.com"], "firewall_by_user_identity_and_pool",
           f"udp 5003 {u}, rule hits {hits}, user tags on inbound SAs {tagged}")

    # Firewall on traffic into tunnels by IKE connection: espgw-ike tags the outbound SAs
    # too, so a to_tunnel rule naming connection rw2 drops the UDP 5002 answers into rw2's
    # tunnel and no other; then the original rules come back for the flows below.
    rules_now = os.path.join(tmp, "rules.toml")
    with open(rules_now, "w") as f:
        f.write(DP_CONFIG[DP_CONFIG.index("[firewall]"):])
    to_tun = os.path.join(tmp, "to_tunnel.toml")
    with open(to_tun, "w") as f:
        f.write(DP_CONFIG[DP_CONFIG.index("[firewall]"):] + TO_TUNNEL_RULE)
    loaded = dc.query(sock, f"rules load {to_tun}")
    u = {ns: sh([PY, "-c", natt.UDP_ECHO, HOST, "5002", "3"], ns, check=False).stdout.strip() for ns in vips}
    rules = dc.query(sock, "show rules")
    restored = dc.query(sock, f"rules load {rules_now}")
    hits = [x["packets"] for x in rules.get("rules", [])] if isinstance(rules, dict) else []
    result(loaded.get("ok") and restored.get("ok") and u.get("eikm-rw1") == "3/3" and u.get("eikm-rw2") == "0/3" and
           hits[2:3] == [3], "firewall_to_tunnel_by_connection",
           f"load {loaded}, udp 5002 {u}, rule hits {hits}, restore {restored}")

    # iperf3 (TCP) from both road warriors at the same time, one server port each.
    ports = {ns: 5201 + i for i, ns in enumerate(sorted(vips))}
    for ns, port in ports.items():
        procs.start(["iperf3", "-s", "-B", HOST, "-p", str(port)], NAT, os.path.join(tmp, f"iperf3-{port}.log"))
    time.sleep(0.5)
    runs = {ns: subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-c", HOST, "-p", str(ports[ns]), "-B", vip,
                                  "-t", "2", "-J"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for ns, vip in vips.items()}
    rates = {}
    for ns, p in runs.items():
        try:
            j = json.loads(p.communicate(timeout=60)[0])
            rates[ns] = j["end"]["sum_received"]["bits_per_second"] / 1e6
        except (ValueError, KeyError, subprocess.TimeoutExpired) as e:
            p.kill()
            rates[ns] = f"failed: {e!r}"
    result(all(isinstance(r, float) and r > 0 for r in rates.values()), "iperf3_tcp_from_both_at_once",
           f"Mbit/s received {rates}")
    print(f"iperf3 through espgw masquerade, both road warriors at once: "
          f"{ {ns: round(r, 1) if isinstance(r, float) else r for ns, r in rates.items()} } Mbit/s", flush=True)

    # A few thousand short flows from both road warriors at once: 1,000 TCP connections
    # and 1,000 UDP exchanges each, 25 at a time per road warrior.
    t0 = time.time()
    flows = {ns: subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", natt.FLOWS, HOST, str(N_FLOWS)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for ns in vips}
    outs = {ns: p.communicate(timeout=240)[0].strip() for ns, p in flows.items()}
    result(all(o == f"tcp {N_FLOWS}/{N_FLOWS} udp {N_FLOWS}/{N_FLOWS}" for o in outs.values()),
           "short_flows_from_both_at_once", f"{outs} in {time.time() - t0:.1f} s")

    nat = dc.query(sock, "show nat")
    created = nat.get("created", 0) if isinstance(nat, dict) else 0
    # One session per flow, give or take a UDP source port the kernel handed out again
    # while its session still lived (the same 5-tuple: the same session).
    result(created >= 3.6 * N_FLOWS and nat.get("table_full", 1) == 0 and nat.get("ports_exhausted", 1) == 0,
           "nat_sessions_created_in_dataplane",
           f"created {created}, sessions {nat.get('sessions') if isinstance(nat, dict) else nat}")
    print(f"espgw-dp NAT: sessions {nat.get('sessions')}, created {created}, {nat.get('bytes_per_session')} B/session, "
          f"out {nat.get('out_packets')} / in {nat.get('in_packets')} packets", flush=True)

    espctl = os.path.join(BUILD, "control", "espctl")
    r1 = subprocess.run([espctl, "--socket", sock, "--json", "show", "nat"], capture_output=True, text=True)
    r2 = subprocess.run([espctl, "--socket", sock, "show", "rules"], capture_output=True, text=True)
    try:
        shown = json.loads(r1.stdout).get("created", 0)
    except ValueError:
        shown = -1
    result(r1.returncode == 0 and r2.returncode == 0 and shown >= 3.6 * N_FLOWS, "espctl_show_nat_and_rules",
           f"show nat rc {r1.returncode} created {shown}; show rules rc {r2.returncode}: {(r2.stdout + r2.stderr)[:200]}")

    time.sleep(0.5)
    from scapy.all import IP, rdpcap  # noqa: E402
    pkts = [p for p in rdpcap(pcap) if IP in p]
    to_host = [p for p in pkts if p[IP].dst == HOST]
    leak = [p for p in pkts if p[IP].src.startswith("10.99.") or p[IP].dst.startswith("10.99.")]
    from_pub = [p for p in to_host if p[IP].src == PUB]
    result(not leak and len(from_pub) > 500 and len(from_pub) == len(to_host), "host_sees_only_public_address",
           f"{len(from_pub)} of {len(to_host)} packets to the host from {PUB}, {len(leak)} with a virtual IP")
    result(dp.poll() is None and ike.poll() is None, "daemons_alive_at_end",
           f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")


def main():
    if os.geteuid() != 0:
        result(False, "ike_dp_masquerade_setup", "needs root")
        sys.exit(1)
    for b in (IKE_BIN, DP_BIN):
        if not os.access(b, os.X_OK):
            result(False, "ike_dp_masquerade_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="eikm-")
    procs = dc.Procs()
    try:
        run(tmp, procs)
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_dp_masquerade_testbed", repr(e))
    finally:
        procs.stop_all()
        if not os.environ.get("EIKM_KEEP"):
            cleanup()
        print(f"logs: {tmp}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

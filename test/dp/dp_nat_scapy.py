#!/usr/bin/python3
"""Masquerade and firewall of espgw-dp, end to end, with the scapy ESP host as road warrior.

    enf-rw                             enf-inet (router + "Internet" host)      enf-gw
    [tun enf-tun 10.20.0.1 = the VIP]  192.0.2.1 enf-i1 | enf-i0 198.51.100.3   espgw-dp (net_af_packet)
    [dp_esp_host.py: scapy ESP] enf-p0 ====                 ==== enf-gwo (outside) 198.51.100.1
    192.0.2.2                          host address 203.0.113.5 (lo)

The road warrior's traffic to 203.0.113.5 goes through the tunnel (ESP to 198.51.100.1),
espgw-dp decrypts it, runs the firewall (first match), masquerades it to 198.51.100.1 and
routes it back out of the outside port to the inet host; replies to 198.51.100.1 are
translated back and encrypted to the road warrior. tcpdump in enf-inet proves what the
host sees. espgw-dp runs two workers on two RX queues, so return traffic that lands on
the worker not owning its public port is handed over.

Cases: ping, UDP and a TCP transfer both ways through the NAT; a few hundred short TCP
and UDP flows; an ICMP port unreachable from the inet host reaching the client
translated; the host sees only 198.51.100.1 (no 10.20.0.0/24 source); a firewall drop
rule (UDP 5003) and a reject rule (TCP 5004 → RST) enforced and counted while the rest
passes; a rule reload swapping the sets (a bad set refused, the old one kept); `nat flush`.

Prints "TESTCASE PASS|FAIL name[: reason]"; exits 1 if any failed.
  dp_nat_scapy.py [--build-dir build] [--binary PATH] [--keep]
"""
import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_e2e_scapy as e2e  # noqa: E402

shutil.rmtree(e2e.TMP, ignore_errors=True)  # that module's own log dir; ours is below

ROOT, PY, HOST = e2e.ROOT, e2e.PY, e2e.HOST
sh, Procs, wait_for, ping = e2e.sh, e2e.Procs, e2e.wait_for, e2e.ping
NS_RW, NS_INET, NS_GW = "enf-rw", "enf-inet", "enf-gw"
PUB, INET_HOST, VIP = "198.51.100.1", "203.0.113.5", "10.20.0.1"
TMP = tempfile.mkdtemp(prefix="enf-nat-")
SOCK = os.path.join(TMP, "dp.sock")
DPLOG = os.path.join(TMP, "dp.log")
results = []


def report(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} nat.{name}" + ("" if ok else f": {why}"), flush=True)


def query(cmd):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(SOCK)
    s.sendall(cmd.encode() + b"\n")
    data = b""
    while True:
        x = s.recv(65536)
        if not x:
            break
        data += x
    s.close()
    return json.loads(data)


def cleanup():
    for ns in (NS_RW, NS_INET, NS_GW):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def topology():
    cleanup()
    for ns in (NS_RW, NS_INET, NS_GW):
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns)
    sh(["ip", "link", "add", "enf-p0", "netns", NS_RW, "type", "veth", "peer", "name", "enf-i1", "netns", NS_INET])
    sh(["ip", "link", "add", "enf-i0", "netns", NS_INET, "type", "veth", "peer", "name", "enf-gwo", "netns", NS_GW])
    sh(["sysctl", "-qw", "net.ipv6.conf.enf-gwo.disable_ipv6=1"], NS_GW)
    sh(["ip", "link", "set", "enf-gwo", "up"], NS_GW)
    sh(["ip", "link", "set", "enf-p0", "up"], NS_RW)
    sh(["ip", "addr", "add", "192.0.2.2/24", "dev", "enf-p0"], NS_RW)
    sh(["ip", "route", "add", "default", "via", "192.0.2.1"], NS_RW)
    for i, a in (("enf-i1", "192.0.2.1/24"), ("enf-i0", "198.51.100.3/24")):
        sh(["ip", "link", "set", i, "up"], NS_INET)
        sh(["ip", "addr", "add", a, "dev", i], NS_INET)
        sh([PY, "-c", e2e.TX_CSUM_OFF, i], NS_INET)
    sh([PY, "-c", e2e.TX_CSUM_OFF, "enf-p0"], NS_RW)
    sh(["ip", "addr", "add", f"{INET_HOST}/32", "dev", "lo"], NS_INET)
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"], NS_INET)
    # The host answers pings and errors at full speed (the kernel rate-limits ICMP).
    sh(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], NS_INET)


FIREWALL = """
[firewall]
default = "allow"
log_rate = 20

[[firewall.rule]]
comment = "no UDP 5003"
protocol = "udp"
ports = 5003
action = "drop"

[[firewall.rule]]
comment = "reject TCP 5004"
protocol = "tcp"
ports = "5004"
action = "reject"
log = true

[[firewall.rule]]
comment = "road warriors"
source = "10.20.0.0/24"
action = "allow"
"""

# FIREWALL's drop and allow with their order swapped: the general allow now comes first.
SWAPPED = """
[firewall]
default = "allow"

[[firewall.rule]]
comment = "road warriors"
source = "10.20.0.0/24"
action = "allow"

[[firewall.rule]]
comment = "no UDP 5003"
protocol = "udp"
ports = 5003
action = "drop"
"""

RELOADED = """
[firewall]
default = "allow"

[[firewall.rule]]
comment = "now UDP 5002 is closed"
protocol = "udp"
ports = 5002
action = "drop"

[[firewall.rule]]
comment = "reject TCP 5004"
protocol = "tcp"
ports = 5004
action = "reject"
"""

BAD = """
[firewall]
[[firewall.rule]]
protocol = "icmp"
ports = "1-2"
"""


# Rules by who is on the other end of the tunnel: the inbound SA is tagged with the
# groups "staff" and "vpn-users" and the connection "rw" (what espgw-ike sets for a
# user from the user database or RADIUS).
BY_GROUP = """
[firewall]
default = "drop"

[[firewall.rule]]
comment = "contractors: UDP 5003 only"
source_group = "contractors"
protocol = "udp"
ports = 5003
action = "allow"

[[firewall.rule]]
comment = "staff: UDP 5002"
source_group = ["finance", "staff"]
protocol = "udp"
ports = 5002
action = "allow"

[[firewall.rule]]
comment = "connection rw: ping"
connection = "rw"
protocol = "icmp"
action = "allow"

[[firewall.rule]]
comment = "connection other: everything"
connection = "other"
action = "allow"
"""


# Rules by user identity and VPN pool: the SA carries "user:alice@example.com" (what
# espgw-ike adds for the IKE identity alice@example.com once a rule names her); the
# pool CIDRs are declared in [[firewall.pool]] (espgw-dp does not read espgw-ike's).
BY_USER = """
[firewall]
default = "drop"

[[firewall.pool]]
name = "rw"
cidr = "10.20.0.0/24"

[[firewall.pool]]
name = "guests"
cidr = "10.99.0.0/24"

[[firewall.rule]]
comment = "bob: UDP 5002"
source_user = "bob@example.com"
protocol = "udp"
ports = 5002
action = "allow"

[[firewall.rule]]
comment = "alice: UDP 5003"
source_user = "alice@example.com"
protocol = "udp"
ports = 5003
action = "allow"

[[firewall.rule]]
comment = "guest pool: ping"
source_pool = "guests"
protocol = "icmp"
action = "allow"

[[firewall.rule]]
comment = "rw pool: ping"
source_pool = "rw"
protocol = "icmp"
action = "allow"
"""


# Rules on traffic into tunnels: the host's UDP 5003 answers are dropped before
# encryption (after the NAT return translation); the requests still leave the tunnel.
TO_TUNNEL = """
[firewall]
default = "allow"

[[firewall.rule]]
comment = "no UDP from port 5003 into tunnels"
direction = "to_tunnel"
protocol = "udp"
source_ports = 5003
action = "drop"
"""


def dp_config(k_out, k_in):
    return f"""
[dataplane]
workers = 2
idle_backoff = true
hugepages = "off"
memory_mb = 256

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=enf-gwo,qpairs=2"
addresses = ["{PUB}/24"]
queues = 2

[[route]]
prefix = "0.0.0.0/0"
via = "198.51.100.3"
port = "outside"

[[sa]]
id = 1
spi = 0x1001
direction = "out"
keymat = "{k_out}"
tunnel_src = "{PUB}"
tunnel_dst = "192.0.2.2"
suite = "aes128gcm16"

[[sa]]
id = 2
spi = 0x2001
direction = "in"
keymat = "{k_in}"
tunnel_src = "192.0.2.2"
tunnel_dst = "{PUB}"
replay_window = 1024
suite = "aes128gcm16"
groups = ["staff", "vpn-users", "user:alice@example.com"]
connection = "rw"

[[policy]]
priority = 10
src = "0.0.0.0/0"
dst = "10.20.0.0/24"
action = "protect"
sa = 1

[nat]
max_sessions = 20000
udp_timeout = 60

[[masquerade]]
source = "10.20.0.0/24"
port = "outside"
{FIREWALL}"""


SERVER = r"""
import socket, sys, threading
host = sys.argv[1]
def tcp(port):
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((host, port)); t.listen(64)
    def serve(c):
        try:
            while True:
                d = c.recv(65536)
                if not d: break
                c.sendall(d)
        except OSError:
            pass
        c.close()
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
def udp(port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((host, port))
    while True:
        d, a = u.recvfrom(65535); u.sendto(d, a)
for p in (5001, 5004):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
for p in (5002, 5003):
    threading.Thread(target=udp, args=(p,), daemon=True).start()
print('ready', flush=True)
threading.Event().wait()
"""

# Client-side probes, run in enf-rw (their source is the VIP through the TUN).
UDP_ECHO = r"""
import os, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1.5)
good = 0
for i in range(n):
    d = os.urandom(40 + 37 * i % 1000)
    u.sendto(d, (host, port))
    try:
        if u.recvfrom(65535)[0] == d: good += 1
    except socket.timeout:
        pass
print(f'{good}/{n}')
"""

FLOWS = r"""
import os, socket, sys, threading
host, n = sys.argv[1], int(sys.argv[2])
ok = {'tcp': 0, 'udp': 0}
lock = threading.Lock()
def tcp_flow():
    d = os.urandom(200)
    try:
        c = socket.create_connection((host, 5001), timeout=20)
        c.sendall(d); c.shutdown(socket.SHUT_WR)
        got = b''
        while True:
            x = c.recv(65536)
            if not x: break
            got += x
        c.close()
        if got == d:
            with lock: ok['tcp'] += 1
    except OSError:
        pass
def udp_flow():
    d = os.urandom(100)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3)
    for _ in range(3):
        try:
            u.sendto(d, (host, 5002))
            if u.recvfrom(2048)[0] == d:
                with lock: ok['udp'] += 1
                break
        except socket.timeout:
            pass
    u.close()
for kind in (tcp_flow, udp_flow):
    for b in range(0, n, 25):
        ts = [threading.Thread(target=kind) for _ in range(min(25, n - b))]
        for t in ts: t.start()
        for t in ts: t.join()
print(f"tcp {ok['tcp']}/{n} udp {ok['udp']}/{n}")
"""

# Many refused connections in a row (the reject rule logs each: rate-limited).
REJECT_FLOOD = r"""
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
refused = 0
for _ in range(n):
    try:
        socket.create_connection((host, port), timeout=3).close()
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        pass
print(refused)
"""

PROBE = r"""
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == 'udp_refused':
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(3); u.connect((host, port))
    for _ in range(3):
        u.send(b'x' * 20)
        try:
            u.recv(100); print('answered'); break
        except ConnectionRefusedError:
            print('refused'); break
        except socket.timeout:
            pass
    else:
        print('timeout')
elif kind == 'tcp':
    try:
        c = socket.create_connection((host, port), timeout=5); c.sendall(b'hello'); print('connected', c.recv(10))
    except ConnectionRefusedError:
        print('refused')
    except OSError as e:
        print('error', e)
"""


def client(script, *args, timeout=60):
    p = sh([PY, "-c", script] + [str(a) for a in args], NS_RW, check=False, timeout=timeout)
    return (p.stdout.strip() or p.stderr.strip()[-300:])


def rule_hits(idx):
    r = query("show rules")
    return r["rules"][idx]["packets"]


def cases(procs):
    ok, last = ping(NS_RW, INET_HOST, count=5, extra=["-I", VIP])
    report(ok, "ping", last[0])

    out = client(UDP_ECHO, INET_HOST, 5002, 40)
    report(out == "40/40", "udp_echo", out)

    p = sh([PY, "-c", e2e.TCP_CLIENT, INET_HOST, "200000"], NS_RW, check=False, timeout=60)
    report(p.stdout.strip() == "ok", "tcp_transfer", (p.stdout + p.stderr).strip()[-300:])

    t0 = time.time()
    out = client(FLOWS, INET_HOST, 200, timeout=90)
    report(out == "tcp 200/200 udp 200/200", "many_short_flows", f"{out} in {time.time() - t0:.1f} s")
    st = query("show nat")
    top = st.get("top_talkers", [])
    report(len(top) == 1 and top[0]["address"] == VIP and top[0]["sessions"] == st["sessions"] and
           # ~400 flows just ended: closed TCP sessions may already be expiring
           st["sessions"] >= 300 and top[0]["packets"] >= 2000 and st["talkers_untracked"] == 0, "top_talkers",
           f"sessions {st['sessions']}, top_talkers {top}")

    before = query("show nat")["icmp_errors"]
    out = client(PROBE, "udp_refused", INET_HOST, 6000)
    after = query("show nat")["icmp_errors"]
    report(out == "refused" and after > before, "icmp_error_translated",
           f"client saw {out!r}, nat icmp_errors {before} -> {after}")

    # Firewall: UDP 5003 dropped (the host serves it), TCP 5004 rejected with a RST.
    h0 = rule_hits(0)
    out = client(UDP_ECHO, INET_HOST, 5003, 3)
    h1 = rule_hits(0)
    report(out == "0/3" and h1 - h0 == 3, "fw_drop_rule", f"echo {out}, rule 0 hits {h0} -> {h1}")
    r0 = rule_hits(1)
    out = client(PROBE, "tcp", INET_HOST, 5004)
    r1 = rule_hits(1)
    rules = query("show rules")
    report(out == "refused" and r1 > r0 and rules["rejects_sent"] >= 1, "fw_reject_rule",
           f"client saw {out!r}, rule 1 hits {r0} -> {r1}, rejects_sent {rules['rejects_sent']}")
    time.sleep(0.5)  # the main loop drains the log rings every 100 ms
    log = open(DPLOG).read()
    lines = [x for x in log.splitlines() if 'fw: rule 1 "reject TCP 5004" reject tcp 10.20.0.1:' in x]
    report(len(lines) == 1 and "-> 203.0.113.5:5004 groups staff,vpn-users,user:alice@example.com connection rw"
           in lines[0], "fw_log_line", lines[:2] or log[-500:])
    # Rate limit (log_rate = 20/s per worker): a flood of rejected SYNs logs at most
    # the burst plus the refill, the rest is counted as suppressed and said once.
    t0 = time.time()
    out = client(REJECT_FLOOD, INET_HOST, 5004, 300, timeout=120)
    took = time.time() - t0
    time.sleep(0.5)
    log = open(DPLOG).read()
    lines = [x for x in log.splitlines() if 'fw: rule 1 "reject TCP 5004"' in x]
    sup = [x for x in log.splitlines() if "log lines suppressed (rate limit 20/s per worker)" in x]
    rl = query("show rules")
    limit = 1 + 20 + 20 * took + 5
    report(out == "300" and 20 <= len(lines) - 1 <= limit and sup and rl["log_suppressed"] >= 300 - limit and
           rl["log_lines"] == len(lines) and rl["log_lines"] + rl["log_suppressed"] == rl["rules"][1]["packets"],
           "fw_log_rate_limited", f"{out} refused in {took:.1f} s, {len(lines)} lines (limit {limit:.0f}), "
           f"suppressed lines {sup[-1:]}, log_lines {rl['log_lines']} suppressed {rl['log_suppressed']} "
           f"hits {rl['rules'][1]['packets']}")
    rules = query("show rules")
    pass_hits = rules["rules"][2]["packets"]
    report(pass_hits > 1000 and rules["rules"][2]["last_hit_s_ago"] is not None, "fw_allow_counted",
           f"allow rule hits {pass_hits}")

    st = query("show nat")
    report(st["created"] >= 400 and st["in_packets"] > 1000 and st["table_full"] == 0 and st["ports_exhausted"] == 0,
           "counters", json.dumps({k: st[k] for k in ("sessions", "created", "out_packets", "in_packets",
                                                       "handed_off", "table_full", "ports_exhausted")}))

    # Flush: every worker drops its sessions; new flows build new ones. A session whose
    # timeout ran out while the flush went round (a loaded machine) counts as expired.
    expired_before = st["expired"]
    r = query("nat flush")
    deadline = time.time() + 5
    while time.time() < deadline and query("show nat")["sessions"] != 0:
        time.sleep(0.1)
    st = query("show nat")
    gone = st["flushed"] + st["expired"] - expired_before
    ok, last = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
    report(r.get("ok") and st["sessions"] == 0 and gone >= r.get("flushing", 1) and ok, "flush",
           f"{r}, sessions after {st['sessions']}, flushed {st['flushed']}, expired meanwhile "
           f"{st['expired'] - expired_before}, ping after {ok}")

    # Reload: a bad set is refused with its reason (old one stays), a good one swaps in.
    bad = os.path.join(TMP, "bad.toml")
    with open(bad, "w") as f:
        f.write(BAD)
    r = query(f"rules load {bad}")
    still = query("show rules")
    report("error" in r and "ports" in r["error"] and still["generation"] == 1, "fw_bad_reload_refused",
           f"{r}, generation {still['generation']}")
    good = os.path.join(TMP, "good.toml")
    with open(good, "w") as f:
        f.write(RELOADED)
    r = query(f"rules load {good}")
    u3 = client(UDP_ECHO, INET_HOST, 5003, 3)
    u2 = client(UDP_ECHO, INET_HOST, 5002, 3)
    ok, last = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
    report(r.get("ok") and u3 == "3/3" and u2 == "0/3" and ok, "fw_reload_swaps_rules",
           f"{r}, udp 5003 {u3}, udp 5002 {u2}, ping {ok}")

    # Rule order: FIREWALL's "no UDP 5003" drop above the general allow blocked exactly
    # UDP 5003 (first case above); with the two rules swapped the allow matches first
    # and UDP 5003 passes. The fresh set's counters match what was sent: 4 datagrams on
    # the allow rule, none on the drop rule behind it, none on the default.
    swapped = os.path.join(TMP, "swapped.toml")
    with open(swapped, "w") as f:
        f.write(SWAPPED)
    r = query(f"rules load {swapped}")
    u3 = client(UDP_ECHO, INET_HOST, 5003, 4)
    rl = query("show rules")
    hits = [x["packets"] for x in rl["rules"]]
    report(r.get("ok") and u3 == "4/4" and hits == [4, 0] and rl.get("default_packets") == 0,
           "fw_rule_order_swapped_changes_result", f"{r}, udp 5003 {u3}, rule hits {hits}, default "
           f"{rl.get('default_packets')}")

    # Group / connection rules: the tunnel's SA carries "staff" and connection "rw".
    by_group = os.path.join(TMP, "by_group.toml")
    with open(by_group, "w") as f:
        f.write(BY_GROUP)
    r = query(f"rules load {by_group}")
    u2 = client(UDP_ECHO, INET_HOST, 5002, 3)
    u3 = client(UDP_ECHO, INET_HOST, 5003, 3)
    ok, last = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
    rules = query("show rules")["rules"]
    hits = [x["packets"] for x in rules]
    report(r.get("ok") and u2 == "3/3" and u3 == "0/3" and ok and hits[0] == 0 and hits[1] >= 3 and hits[2] >= 2 and
           hits[3] == 0 and rules[1]["source_group"] == ["finance", "staff"] and rules[2]["connection"] == ["rw"],
           "fw_rules_by_user_group_and_connection",
           f"{r}, staff's udp 5002 {u2}, contractors' udp 5003 {u3}, ping {ok}, hits {hits}")
    sa_in = [x for x in query("stats")["sa"] if x["direction"] == "in"]
    report(len(sa_in) == 1 and sa_in[0].get("groups") == ["staff", "vpn-users", "user:alice@example.com"] and
           sa_in[0].get("connection") == ["rw"], "sa_shows_firewall_tags", json.dumps(sa_in)[:300])

    # User identity and pool rules.
    by_user = os.path.join(TMP, "by_user.toml")
    with open(by_user, "w") as f:
        f.write(BY_USER)
    r = query(f"rules load {by_user}")
    u2 = client(UDP_ECHO, INET_HOST, 5002, 3)
    u3 = client(UDP_ECHO, INET_HOST, 5003, 3)
    ok, last = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
    rules = query("show rules")["rules"]
    hits = [x["packets"] for x in rules]
    report(r.get("ok") and u2 == "0/3" and u3 == "3/3" and ok and hits[0] == 0 and hits[1] >= 3 and hits[2] == 0 and
           hits[3] >= 2 and rules[1]["source_user"] == ["alice@example.com"] and rules[3]["source_pool"] == "rw" and
           rules[3]["source"] == "10.20.0.0/24", "fw_rules_by_user_and_pool",
           f"{r}, bob's udp 5002 {u2}, alice's udp 5003 {u3}, ping {ok}, hits {hits}")
    bad_pool = os.path.join(TMP, "bad_pool.toml")
    with open(bad_pool, "w") as f:
        f.write('[firewall]\n[[firewall.rule]]\nsource_pool = "nowhere"\n')
    r = query(f"rules load {bad_pool}")
    report("error" in r and "not declared" in r["error"], "fw_undeclared_pool_refused", str(r))

    to_tun = os.path.join(TMP, "to_tunnel.toml")
    with open(to_tun, "w") as f:
        f.write(TO_TUNNEL)
    r = query(f"rules load {to_tun}")
    u3 = client(UDP_ECHO, INET_HOST, 5003, 3)
    u2 = client(UDP_ECHO, INET_HOST, 5002, 3)
    ok, last = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
    rules = query("show rules")
    report(r.get("ok") and u3 == "0/3" and u2 == "3/3" and ok and rules["rules"][0]["packets"] == 3 and
           rules["rules"][0]["direction"] == "to_tunnel" and rules["default_to_tunnel_packets"] >= 5,
           "fw_to_tunnel_rule", f"{r}, udp 5003 {u3}, udp 5002 {u2}, ping {ok}, rule hits "
           f"{rules['rules'][0]['packets']}, default_to_tunnel_packets {rules['default_to_tunnel_packets']}")

    # Automatic rules: with default drop, the tunnels of a connection named in
    # [firewall] automatic pass (this SA is connection "rw"); naming another one blocks it.
    seen = {}
    for conn in ("rw", "branch"):
        path = os.path.join(TMP, f"auto_{conn}.toml")
        with open(path, "w") as f:
            f.write(f'[firewall]\ndefault = "drop"\nautomatic = ["{conn}"]\n')
        r = query(f"rules load {path}")
        u2 = client(UDP_ECHO, INET_HOST, 5002, 3)
        ok, _ = ping(NS_RW, INET_HOST, count=2, extra=["-I", VIP])
        rules = query("show rules")
        seen[conn] = (r.get("ok"), u2, ok, rules["rules"][0]["comment"], rules["rules"][0]["packets"])
    report(seen["rw"][:3] == (True, "3/3", True) and seen["rw"][3] == "automatic: traffic selectors of connection rw"
           and seen["rw"][4] >= 5 and seen["branch"][:3] == (True, "0/3", False) and seen["branch"][4] == 0,
           "fw_automatic_rules_follow_the_connection", str(seen))


def source_check(pcap):
    """Everything the inet host received from the gateway (not ESP) came from PUB."""
    from scapy.all import IP, rdpcap  # noqa: E402
    pkts = [p for p in rdpcap(pcap) if IP in p]
    leak = [p for p in pkts if p[IP].src.startswith("10.20.")]
    natted = [p for p in pkts if p[IP].dst == INET_HOST and p[IP].proto != 50 and p[IP].src == PUB]
    other = [p for p in pkts if p[IP].dst == INET_HOST and p[IP].proto != 50 and p[IP].src != PUB]
    udp5003 = [p for p in natted if p[IP].proto == 17 and p[IP].dport == 5003]
    report(not leak and not other and len(natted) > 1000, "host_sees_public_source",
           f"{len(natted)} packets from {PUB}, {len(other)} from elsewhere, {len(leak)} with a 10.20 source")
    report(len(udp5003) == 13, "fw_drop_never_reached_host",
           f"{len(udp5003)} UDP 5003 packets at the host (13 expected: after the reload, with the rules "
           "swapped, for alice and with the to_tunnel rule only)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--binary", default="")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not args.binary:
        build = os.environ.get("ESPGW_BUILD_DIR") or os.path.join(ROOT, args.build_dir)
        args.binary = os.path.join(build, "dataplane", "dp", "espgw-dp")
    if not os.path.exists(args.binary):
        report(False, "start", f"{args.binary} not built")
        return 1
    procs = Procs()
    try:
        topology()
        k_in, k_out = secrets.token_hex(20), secrets.token_hex(20)
        cfg = os.path.join(TMP, "dp.toml")
        with open(cfg, "w") as f:
            f.write(dp_config(k_out, k_in))
        pcap = os.path.join(TMP, "inet.pcap")
        tlog = os.path.join(TMP, "tcpdump.log")
        procs.start(["tcpdump", "-i", "enf-i0", "-n", "-U", "-s", "128", "-w", pcap, "not", "arp"], NS_INET, tlog)
        dplog = DPLOG
        dp = procs.start([args.binary, "--config", cfg, "--file-prefix", "enf-nat", "--stats-socket", SOCK], NS_GW, dplog)
        if not wait_for(dplog, "ready:", dp, timeout=30):
            report(False, "start", f"espgw-dp did not start: {open(dplog).read()[-600:]}")
            return 1
        hlog = os.path.join(TMP, "host.log")
        host = procs.start([PY, HOST, "daemon", "--suite", "aes128gcm16", "--local", "192.0.2.2", "--remote", PUB,
                            "--tx-spi", "0x2001", "--tx-key", k_in, "--rx-spi", "0x1001", "--rx-key", k_out,
                            "--tun", "enf-tun"], NS_RW, hlog)
        if not wait_for(hlog, "esp-host: ready", host):
            report(False, "start", f"ESP host did not start: {open(hlog).read()[-600:]}")
            return 1
        sh(["ip", "link", "set", "enf-tun", "up"], NS_RW)
        sh(["ip", "addr", "add", f"{VIP}/32", "dev", "enf-tun"], NS_RW)
        sh(["ip", "route", "add", "203.0.113.0/24", "dev", "enf-tun", "src", VIP], NS_RW)
        slog = os.path.join(TMP, "server.log")
        srv = procs.start([PY, "-c", SERVER, INET_HOST], NS_INET, slog)
        if not wait_for(slog, "ready", srv, 5):
            report(False, "start", "inet server did not start")
            return 1
        time.sleep(0.5)  # tcpdump attached
        cases(procs)
        time.sleep(0.5)
        with open(os.path.join(TMP, "nat.json"), "w") as f:
            json.dump({"nat": query("show nat"), "rules": query("show rules")}, f, indent=1)
        procs.stop_all()
        source_check(pcap)
    except Exception as e:  # noqa: BLE001 - any set-up failure is a FAIL, never a skip
        report(False, "run", repr(e))
    finally:
        procs.stop_all()
        cleanup()
        if not args.keep and all(results):
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            print(f"logs in {TMP}", flush=True)
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

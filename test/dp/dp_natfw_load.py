#!/usr/bin/python3
"""Masquerade + firewall of espgw-dp under load (issue 5 proof), scapy ESP road warrior.

Same topology as dp_nat_scapy.py (road warrior 10.20.0.1 through ESP → espgw-dp →
masquerade to 198.51.100.1 → inet host 203.0.113.5), in namespaces h5-rw, h5-inet,
h5-gw. Two espgw-dp runs:

 1. max_sessions 20000: 3000 short flows (1500 TCP echo connections + 1500 UDP echo
    flows, 25 at a time) all return exactly their data; every flow made a session, none
    refused. Then a rule reload under traffic: a TCP flow (echo every 20 ms) and a UDP
    flow run while `rules load` swaps in a set that still allows the TCP flow and forbids
    the UDP one: the TCP flow loses nothing and never stalls, and no UDP datagram sent
    after `rules load` returned is answered (while before it they were).
 2. max_sessions 40 (20 per worker; the tunnel's traffic is one worker's): an
    established TCP flow and a few UDP flows hold sessions; 40 new UDP flows: the ones
    beyond the capacity are refused and counted (`table_full`), the old flows keep
    working.

Prints "TESTCASE PASS|FAIL natfw.<name>[: reason]"; exits 1 if any failed.
  dp_natfw_load.py [--build-dir build] [--binary PATH] [--keep]
"""
import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dp_nat_scapy as base  # noqa: E402

shutil.rmtree(base.TMP, ignore_errors=True)  # that module's own log dir; ours is below
base.NS_RW, base.NS_INET, base.NS_GW = "h5-rw", "h5-inet", "h5-gw"
TMP = tempfile.mkdtemp(prefix="h5-natfw-")
base.TMP = TMP
base.SOCK = os.path.join(TMP, "dp.sock")
base.DPLOG = os.path.join(TMP, "dp.log")
e2e, sh, Procs, wait_for, query, client = base.e2e, base.sh, base.Procs, base.wait_for, base.query, base.client
PY, HOST, PUB, INET_HOST, VIP = base.PY, base.HOST, base.PUB, base.INET_HOST, base.VIP
results = []


def report(ok, name, why=""):
    results.append(bool(ok))
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} natfw.{name}" + (f": {why}" if why else ""), flush=True)


ALLOW_ALL = """
[firewall]
default = "drop"

[[firewall.rule]]
comment = "echo TCP"
protocol = "tcp"
ports = 5001
action = "allow"

[[firewall.rule]]
comment = "echo UDP"
protocol = "udp"
ports = 5002
action = "allow"

[[firewall.rule]]
comment = "ping"
protocol = "icmp"
action = "allow"
"""

# The reload: TCP 5001 still allowed (now by a different rule at a different index),
# UDP 5002 forbidden.
NO_UDP = """
[firewall]
default = "drop"

[[firewall.rule]]
comment = "UDP 5002 forbidden from now on"
protocol = "udp"
ports = 5002
action = "drop"

[[firewall.rule]]
comment = "road warriors to the echo host, TCP"
source = "10.20.0.0/24"
destination = "203.0.113.5"
protocol = "tcp"
action = "allow"

[[firewall.rule]]
comment = "ping"
protocol = "icmp"
action = "allow"
"""

# Runs in h5-rw: a TCP echo flow and a UDP echo flow, one message each every 20 ms for
# `secs`; prints JSON: TCP messages sent/echoed and the longest gap between echoes, UDP
# send times of the answered datagrams.
UNDER_TRAFFIC = r"""
import json, os, socket, sys, threading, time
host, secs = sys.argv[1], float(sys.argv[2])
res = {'tcp_sent': 0, 'tcp_ok': 0, 'tcp_max_gap': 0.0, 'tcp_error': '', 'udp_sent': 0, 'udp_answered': []}
end = time.time() + secs
def tcp():
    try:
        c = socket.create_connection((host, 5001), timeout=5)
        last = time.time()
        while time.time() < end:
            d = os.urandom(100)
            c.sendall(d); res['tcp_sent'] += 1
            got = b''
            while len(got) < len(d):
                x = c.recv(len(d) - len(got))
                if not x: raise OSError('closed')
                got += x
            if got == d: res['tcp_ok'] += 1
            now = time.time(); res['tcp_max_gap'] = max(res['tcp_max_gap'], now - last); last = now
            time.sleep(0.02)
        c.close()
    except OSError as e:
        res['tcp_error'] = repr(e)
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.02)
    sent = {}
    i = 0
    while time.time() < end + 0.5:
        if time.time() < end:
            i += 1; sent[i] = time.time(); u.sendto(b'%d' % i, (host, 5002)); res['udp_sent'] += 1
        try:
            d = u.recvfrom(100)[0]
            res['udp_answered'].append(sent[int(d)])
        except (socket.timeout, ValueError, KeyError):
            pass
ts = [threading.Thread(target=tcp), threading.Thread(target=udp)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(res))
"""

# Runs in h5-rw: `n` new UDP flows (one socket each, distinct source ports) send one
# datagram each at once; prints how many were answered within 2 s.
NEW_FLOWS = r"""
import select, socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
socks = []
for i in range(n):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.setblocking(False)
    u.sendto(b'new %d' % i, (host, 5002)); socks.append(u)
    time.sleep(0.005)
answered = set()
end = time.time() + 2
while time.time() < end and len(answered) < n:
    r, _, _ = select.select(socks, [], [], 0.1)
    for s in r:
        try:
            s.recv(100); answered.add(s)
        except OSError:
            pass
print(len(answered))
"""

# Runs in h5-rw: keeps a TCP flow and 3 UDP flows open (state file for the test),
# echoes over all of them at start and again when told (SIGUSR1), prints results.
OLD_FLOWS = r"""
import os, signal, socket, sys, time
host = sys.argv[1]
c = socket.create_connection((host, 5001), timeout=5)
us = []
for i in range(3):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2); us.append(u)
def probe(tag):
    ok = 0
    c.sendall(b'tcp ' + tag); ok += c.recv(100) == b'tcp ' + tag
    for u in us:
        for _ in range(2):
            try:
                u.sendto(b'udp ' + tag, (host, 5002))
                if u.recv(100) == b'udp ' + tag:
                    ok += 1
                    break
            except socket.timeout:
                pass
    print(tag.decode(), ok, flush=True)
probe(b'before')
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
while not go:
    time.sleep(0.05)
probe(b'after')
"""


# dp_nat_scapy's short flows, also counting the distinct local ports used (the kernel
# may reuse a port whose session still lives: that flow reuses the session).
FLOWS = (base.FLOWS.replace("c.sendall(d); c.shutdown", "ports.add(('t', c.getsockname()[1])); c.sendall(d); c.shutdown")
         .replace("u.sendto(d, (host, 5002))", "u.sendto(d, (host, 5002)); ports.add(('u', u.getsockname()[1]))")
         .replace("lock = threading.Lock()", "lock = threading.Lock()\nports = set()")
         + "print(len(ports))\n")
assert FLOWS.count("ports.add") == 2


def start_phase(procs, tag, max_sessions, firewall):
    k_in, k_out = secrets.token_hex(20), secrets.token_hex(20)
    base.FIREWALL = firewall
    cfg_text = base.dp_config(k_out, k_in).replace("max_sessions = 20000", f"max_sessions = {max_sessions}")
    assert f"max_sessions = {max_sessions}" in cfg_text
    cfg = os.path.join(TMP, f"dp-{tag}.toml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    base.DPLOG = os.path.join(TMP, f"dp-{tag}.log")
    if os.path.exists(base.SOCK):
        os.unlink(base.SOCK)
    dp = procs.start([ARGS.binary, "--config", cfg, "--file-prefix", f"h5-natfw-{tag}", "--stats-socket", base.SOCK],
                     base.NS_GW, base.DPLOG)
    if not wait_for(base.DPLOG, "ready:", dp, timeout=30):
        raise RuntimeError(f"espgw-dp did not start: {open(base.DPLOG).read()[-600:]}")
    hlog = os.path.join(TMP, f"host-{tag}.log")
    host = procs.start([PY, HOST, "daemon", "--suite", "aes128gcm16", "--local", "192.0.2.2", "--remote", PUB,
                        "--tx-spi", "0x2001", "--tx-key", k_in, "--rx-spi", "0x1001", "--rx-key", k_out,
                        "--tun", "h5-tun"], base.NS_RW, hlog)
    if not wait_for(hlog, "esp-host: ready", host):
        raise RuntimeError(f"ESP host did not start: {open(hlog).read()[-600:]}")
    sh(["ip", "link", "set", "h5-tun", "up"], base.NS_RW)
    sh(["ip", "addr", "add", f"{VIP}/32", "dev", "h5-tun"], base.NS_RW)
    sh(["ip", "route", "add", "203.0.113.0/24", "dev", "h5-tun", "src", VIP], base.NS_RW)
    slog = os.path.join(TMP, f"server-{tag}.log")
    srv = procs.start([PY, "-c", base.SERVER, INET_HOST], base.NS_INET, slog)
    if not wait_for(slog, "ready", srv, 5):
        raise RuntimeError("inet server did not start")
    ok, last = e2e.ping(base.NS_RW, INET_HOST, count=3, extra=["-I", VIP])
    if not ok:
        raise RuntimeError(f"no ping through the gateway: {last}")


def phase_flows_and_reload():
    st0 = query("show nat")
    t0 = time.time()
    out = client(FLOWS, INET_HOST, 1500, timeout=120).splitlines()
    took = time.time() - t0
    st = query("show nat")
    made = st["created"] - st0["created"]
    distinct = int(out[1]) if len(out) == 2 and out[1].isdigit() else -1
    report(out[:1] == ["tcp 1500/1500 udp 1500/1500"] and made >= distinct > 2500 and st["table_full"] == 0 and
           st["ports_exhausted"] == 0, "3000_short_flows",
           f"{out} in {took:.1f} s, sessions created {made} for {distinct} distinct client ports, table_full {st['table_full']}, "
           f"ports_exhausted {st['ports_exhausted']}")
    top = st["top_talkers"]
    report(top and top[0]["address"] == VIP and top[0]["sessions"] == st["sessions"], "top_talker_is_the_client",
           json.dumps(top))

    # Reload under traffic.
    newset = os.path.join(TMP, "no_udp.toml")
    with open(newset, "w") as f:
        f.write(NO_UDP)
    p = subprocess.Popen(["ip", "netns", "exec", base.NS_RW, PY, "-c", UNDER_TRAFFIC, INET_HOST, "6"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    r = query(f"rules load {newset}")
    t_load = time.time()
    out, err = p.communicate(timeout=30)
    try:
        res = json.loads(out)
    except ValueError:
        report(False, "reload_under_traffic", f"client: {out[-300:]} {err[-300:]}")
        return
    before = [t for t in res["udp_answered"] if t < t_load]
    after = [t for t in res["udp_answered"] if t >= t_load]
    rules = query("show rules")
    report(r.get("ok") and not res["tcp_error"] and res["tcp_sent"] >= 100 and res["tcp_ok"] == res["tcp_sent"] and
           res["tcp_max_gap"] < 1.0, "reload_keeps_allowed_tcp_flow",
           f"{r}; tcp sent {res['tcp_sent']} echoed {res['tcp_ok']}, longest gap {res['tcp_max_gap']:.2f} s, "
           f"error {res['tcp_error']!r}")
    report(r.get("ok") and len(before) >= 20 and not after and rules["rules"][0]["packets"] >= 50,
           "reload_blocks_forbidden_udp_at_once",
           f"udp sent {res['udp_sent']}, answered before the load {len(before)}, after {len(after)} "
           f"(first {min(after) - t_load if after else 0:.3f} s after), drop rule hits {rules['rules'][0]['packets']}")


def phase_table_full():
    old = subprocess.Popen(["ip", "netns", "exec", base.NS_RW, PY, "-u", "-c", OLD_FLOWS, INET_HOST],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = old.stdout.readline().strip()
    st0 = query("show nat")
    out = client(NEW_FLOWS, INET_HOST, 40, timeout=30)
    st = query("show nat")
    old.send_signal(__import__("signal").SIGUSR1)
    second = old.stdout.readline().strip()
    old.wait(timeout=10)
    cap = st["capacity"]
    held = st0["sessions"]
    refused = st["table_full"] - st0["table_full"]
    try:
        answered = int(out)
    except ValueError:
        answered = -1
    report(first == "before 4" and 0 <= answered < 40 and answered <= cap // 2 - held and refused >= 40 - answered and
           st["sessions"] <= cap // 2, "table_full_refuses_new_flows_and_counts",
           f"capacity {cap} (per worker {cap // 2}), sessions held {held}, new flows answered {answered}/40, "
           f"table_full {st0['table_full']} -> {st['table_full']}, old flows {first!r}")
    report(second == "after 4", "table_full_old_flows_keep_working", f"old flows after: {second!r}")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--binary", default="")
    ap.add_argument("--keep", action="store_true")
    ARGS = ap.parse_args()
    if not ARGS.binary:
        build = os.environ.get("ESPGW_BUILD_DIR") or os.path.join(base.ROOT, ARGS.build_dir)
        ARGS.binary = os.path.join(build, "dataplane", "dp", "espgw-dp")
    if not os.path.exists(ARGS.binary):
        report(False, "start", f"{ARGS.binary} not built")
        return 1
    procs = Procs()
    try:
        base.topology()
        start_phase(procs, "load", 20000, ALLOW_ALL)
        phase_flows_and_reload()
        procs.stop_all()
        start_phase(procs, "full", 40, ALLOW_ALL)
        phase_table_full()
    except Exception as e:  # noqa: BLE001 - any set-up failure is a FAIL, never a skip
        report(False, "run", repr(e))
    finally:
        procs.stop_all()
        base.cleanup()
        if not ARGS.keep and results and all(results):
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            print(f"logs in {TMP}", flush=True)
    return 0 if results and all(results) else 1


ARGS = None

if __name__ == "__main__":
    sys.exit(main())

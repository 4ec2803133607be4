"""espgw-dp in the bench: the same pcap in (net_pcap, infinite replay), net_null out,
the same SAs from its TOML config, idle back-off off, one worker lcore; packets/s
from the output port's tx counter read over the stats socket across a fixed window."""
import json
import os
import signal
import socket
import subprocess
import time

from sas import SUITES, inner_dst, keymat, spi_for


# Port order in the config: outside is port index 0, inside 1 (ports_start assigns RX
# queue q of port i to worker (i + q) % workers).
PORT_INDEX = {"in": 0, "out": 1}


def sa_ids(j, n_sas):
    """Config ids of SA j's outbound and inbound SA. A scenario's config holds only the
    SAs of its direction (SA ids are < 131072 over both directions, so 100,000 SA
    pairs do not fit one config). The tables' owner rule is id % workers, so
    consecutive ids spread the SAs over the workers."""
    return j + 1, j + 1


def owner_queue(direction, n_sas, workers):
    """queue_of(sa index) for pcapgen.make: the input port's RX queue whose worker owns
    the SA (flow steering by SA, as a NIC's RSS-on-SPI / rte_flow rule would do)."""
    i = PORT_INDEX[direction]

    def q(j):
        out_id, in_id = sa_ids(j, n_sas)
        owner = (out_id if direction == "out" else in_id) % workers
        return (owner - i) % workers
    return q


def _pow2m1(n):
    v = 1
    while v - 1 < n:
        v <<= 1
    return v - 1


def write_config(path, suite, n_sas, direction, pcap, lcores, n_frames=0, encap="esp"):
    """TOML for one scenario; the pcap(s) feed the inside port (encrypt) or the
    outside port (decrypt), one RX queue per file; the other port is net_null."""
    s = SUITES[suite]
    pcaps = pcap if isinstance(pcap, list) else [pcap]
    pin = "net_pcap0," + ",".join(f"rx_pcap={p}" for p in pcaps) + ",infinite_rx=1"
    inside = pin if direction == "out" else "net_null1,no-rx=1"
    outside = pin if direction == "in" else "net_null1,no-rx=1"
    # net_pcap's infinite_rx keeps every frame of the file in mbufs of the port's pool.
    mbufs = max(8191, _pow2m1(n_frames * len(pcaps) + 16384))
    big = n_sas >= 10000
    out = [
        "[dataplane]",
        f"workers = {len(lcores)}",
        f"lcores = [{', '.join(str(x) for x in lcores)}]",
        "burst = 32",
        'idle = "off"',
        'hugepages = "off"',
        f"memory_mb = {4096 if big else 1024}",
        f"mbufs = {mbufs}",
        f"max_sas = {max(4096, n_sas + 64)}",
        f"max_policies = {max(1024, n_sas + 64)}",
        "[[port]]", 'name = "outside"', 'role = "outside"', f'device = "{outside}"',
        'addresses = ["192.0.2.1/24"]'] + ([f"queues = {len(pcaps)}"] if direction == "in" else []) + [
        "[[port]]", 'name = "inside"', 'role = "inside"', f'device = "{inside}"',
        'addresses = ["10.10.0.1/24"]'] + ([f"queues = {len(pcaps)}"] if direction == "out" else []) + [
        "[[route]]", 'prefix = "10.20.0.0/16"', 'via = "192.0.2.2"', 'port = "outside"',
        "[[neighbor]]", 'address = "192.0.2.2"', 'mac = "02:00:00:00:02:02"', 'port = "outside"',
        "[[neighbor]]", 'address = "10.10.0.2"', 'mac = "02:00:00:00:01:02"', 'port = "inside"',
    ]
    for j in range(n_sas):
        out_id, in_id = sa_ids(j, n_sas)
        for d, sid, src, dst in (("out", out_id, "192.0.2.1", "192.0.2.2"),
                                 ("in", in_id, "192.0.2.2", "192.0.2.1")):
            if d != direction:
                continue
            out += ["[[sa]]", f"id = {sid}", f"spi = {spi_for(j, d)}", f'direction = "{d}"',
                    f'suite = "{s["espgw"]}"', f'keymat = "{keymat(suite, j, d).hex()}"', 'mode = "tunnel"',
                    f'tunnel_src = "{src}"', f'tunnel_dst = "{dst}"']
            if encap == "udp":
                out.append("udp_encap = true")  # RFC 3948: ESP in UDP 4500 <-> 4500
            if d == "in":
                out.append("replay_window = 0")  # replayed pcap repeats sequence numbers
        # Decrypt checks the inner packet against the SPD (RFC 4301 §5.2): the same
        # per-destination protect entries, all naming one outbound SA (ids are scarce).
        out += ["[[policy]]", f"priority = {10 + min(j, 60000)}", 'src = "10.10.0.0/24"', f'dst = "{inner_dst(j)}/32"',
                'action = "protect"', f"sa = {out_id if direction == 'out' else n_sas + 1}"]
    if direction == "in":
        out += ["[[sa]]", f"id = {n_sas + 1}", f"spi = {spi_for(n_sas, 'out')}", 'direction = "out"',
                f'suite = "{s["espgw"]}"', f'keymat = "{keymat(suite, n_sas, "out").hex()}"', 'mode = "tunnel"',
                'tunnel_src = "192.0.2.1"', 'tunnel_dst = "192.0.2.2"'] + (["udp_encap = true"] if encap == "udp" else [])
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def query(path, cmd="stats"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    s.sendall(cmd.encode() + b"\n")
    d = b""
    while True:
        x = s.recv(1 << 20)
        if not x:
            break
        d += x
    s.close()
    return json.loads(d)


def port_counter(st, name, key):
    """Counter `key` of port `name` in a "ports" or "stats" answer."""
    for p in (st if isinstance(st, list) else st["ports"]):
        if p["name"] == name:
            return p[key]
    raise RuntimeError(f"no port {name} in stats")


def start(binary, cfg, prefix, sock, logf, tries):
    """espgw-dp on `cfg`, waited for ("ready:" in its log, polled every 0.1 s up to
    `tries` times): (process, log file, start-up seconds) or RuntimeError."""
    log = open(logf, "w")
    p = subprocess.Popen([binary, "--config", cfg, "--file-prefix", prefix, "--stats-socket", sock],
                         stdout=log, stderr=subprocess.STDOUT)
    t_start = time.monotonic()
    for _ in range(tries):
        time.sleep(0.1)
        if p.poll() is not None:
            break
        if "ready:" in open(logf).read():
            return p, log, time.monotonic() - t_start
    stop(p, log)
    raise RuntimeError(f"espgw-dp did not start (log {logf}): " + open(logf).read()[-500:])


def stop(p, log, timeout=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    log.close()


def _ports(path):
    """Port counters only ("ports": no per-SA list, which is 100,000 entries long in the
    big scenarios); "stats" where the dataplane has no such command."""
    try:
        st = query(path, "ports")
        if isinstance(st, list):
            return {"ports": st}
        if "ports" in st:
            return st
    except (ValueError, OSError):
        pass
    return query(path)


def _count(st, direction):
    return port_counter(st, "outside" if direction == "out" else "inside", "tx_packets")


def measure(binary, workdir, suite, n_sas, direction, pcap, seconds, warmup, lcores, prefix, n_frames=0,
            encap="esp"):
    """One trial; returns dict(pps, drops, window_s, start_s) or raises RuntimeError
    with the log tail. pcap: one path, or one per RX queue (len(lcores) workers)."""
    first = pcap[0] if isinstance(pcap, list) else pcap
    tag = f"{direction}-{suite}-{encap}-{n_sas}-{len(lcores)}w-{os.path.basename(first)}"
    cfg = os.path.join(workdir, f"espgw-{tag}.toml")
    write_config(cfg, suite, n_sas, direction, pcap, lcores, n_frames, encap)
    sock = os.path.join(workdir, f"espgw-{os.getpid()}.sock")
    logf = os.path.join(workdir, f"espgw-{tag}.log")
    # 100k SAs: TOML, tables and rte_acl build take a while.
    p, log, start_s = start(binary, cfg, prefix, sock, logf, 300 + n_sas // 100)
    try:
        time.sleep(warmup)
        t0, c0 = time.monotonic(), _count(_ports(sock), direction)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), _count(_ports(sock), direction)
        st = query(sock, "drops")
        if "drops" not in st:
            st = {"drops": st} if all(isinstance(v, int) for v in st.values()) else query(sock)
    finally:
        stop(p, log)
    if c1 <= c0:
        drops = {k: v for k, v in st.get("drops", {}).items() if v}
        raise RuntimeError(f"espgw-dp forwarded nothing; drops {drops} (log {logf})")
    drops = {k: v for k, v in st.get("drops", {}).items() if v}
    return {"pps": (c1 - c0) / (t1 - t0), "drops": drops, "window_s": t1 - t0, "start_s": start_s}

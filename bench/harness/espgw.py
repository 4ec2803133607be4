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


def write_config(path, suite, n_sas, direction, pcap, lcores):
    """TOML for one scenario; the pcap feeds the inside port (encrypt) or the
    outside port (decrypt), the other port is net_null."""
    s = SUITES[suite]
    pin = f"net_pcap0,rx_pcap={pcap},infinite_rx=1"
    inside = pin if direction == "out" else "net_null1,no-rx=1"
    outside = pin if direction == "in" else "net_null1,no-rx=1"
    out = [
        "[dataplane]",
        f"workers = {len(lcores)}",
        f"lcores = [{', '.join(str(x) for x in lcores)}]",
        "burst = 32",
        "idle_backoff = false",
        'hugepages = "off"',
        "memory_mb = 1024",
        "[[port]]", 'name = "outside"', 'role = "outside"', f'device = "{outside}"',
        'addresses = ["192.0.2.1/24"]',
        "[[port]]", 'name = "inside"', 'role = "inside"', f'device = "{inside}"',
        'addresses = ["10.10.0.1/24"]',
        "[[route]]", 'prefix = "10.20.0.0/16"', 'via = "192.0.2.2"', 'port = "outside"',
        "[[neighbor]]", 'address = "192.0.2.2"', 'mac = "02:00:00:00:02:02"', 'port = "outside"',
        "[[neighbor]]", 'address = "10.10.0.2"', 'mac = "02:00:00:00:01:02"', 'port = "inside"',
    ]
    for j in range(n_sas):
        for d, sid, src, dst in (("out", 2 * j + 1, "192.0.2.1", "192.0.2.2"),
                                 ("in", 2 * j + 2, "192.0.2.2", "192.0.2.1")):
            out += ["[[sa]]", f"id = {sid}", f"spi = {spi_for(j, d)}", f'direction = "{d}"',
                    f'suite = "{s["espgw"]}"', f'keymat = "{keymat(suite, j, d).hex()}"', 'mode = "tunnel"',
                    f'tunnel_src = "{src}"', f'tunnel_dst = "{dst}"']
            if d == "in":
                out.append("replay_window = 0")  # replayed pcap repeats sequence numbers
        out += ["[[policy]]", f"priority = {10 + j}", 'src = "10.10.0.0/24"', f'dst = "{inner_dst(j)}/32"',
                'action = "protect"', f"sa = {2 * j + 1}"]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def _stats(path):
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
    s.close()
    return json.loads(d)


def _count(st, direction):
    port = "outside" if direction == "out" else "inside"
    for p in st["ports"]:
        if p["name"] == port:
            return p["tx_packets"]
    raise RuntimeError("no output port in stats")


def measure(binary, workdir, suite, n_sas, direction, pcap, seconds, warmup, lcores, prefix):
    """One trial; returns dict(pps, dropped_sum) or raises RuntimeError with the log tail."""
    tag = f"{direction}-{suite}-{n_sas}-{len(lcores)}w-{os.path.basename(pcap)}"
    cfg = os.path.join(workdir, f"espgw-{tag}.toml")
    write_config(cfg, suite, n_sas, direction, pcap, lcores)
    sock = os.path.join(workdir, f"espgw-{os.getpid()}.sock")
    logf = os.path.join(workdir, f"espgw-{tag}.log")
    log = open(logf, "w")
    p = subprocess.Popen([binary, "--config", cfg, "--file-prefix", prefix, "--stats-socket", sock],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = False
        for _ in range(300):
            time.sleep(0.1)
            if p.poll() is not None:
                break
            if "ready:" in open(logf).read():
                ready = True
                break
        if not ready:
            raise RuntimeError(f"espgw-dp did not start (log {logf}): " + open(logf).read()[-500:])
        time.sleep(warmup)
        t0, c0 = time.monotonic(), _count(_stats(sock), direction)
        time.sleep(seconds)
        st = _stats(sock)
        t1, c1 = time.monotonic(), _count(st, direction)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
    if c1 <= c0:
        drops = {k: v for k, v in st.get("drops", {}).items() if v}
        raise RuntimeError(f"espgw-dp forwarded nothing; drops {drops} (log {logf})")
    drops = {k: v for k, v in st.get("drops", {}).items() if v}
    return {"pps": (c1 - c0) / (t1 - t0), "drops": drops, "window_s": t1 - t0}

"""Masquerade + firewall in espgw-dp's whole decrypt pipeline (issue 5's bench): the same
ESP traffic (64-byte inner IPv4/UDP packets of S distinct 5-tuples, one SA, in a
shuffled order) through espgw-dp with and without [[masquerade]] + a firewall of R
rules, side by side in one run. Packets/s per core (one worker), the cost per packet
against the pipeline without them, and the NAT sessions' memory.

Each start replays the pcap forever (net_pcap infinite_rx, one frame per flow): the
first pass (warm-up) creates the S sessions, the measured window runs over later
passes where every packet hits an existing session. Rules: R - 1 drop rules on other
destinations first, the allow rule for the traffic last, default drop.
"""
import ipaddress
import os
import random
import statistics
import struct
import time

from pcapgen import _ETH_OUT, _EspEncryptor, _ipv4, _PATTERN, write_raw
from sas import SUITES, keymat, spi_for
from espgw import port_counter, query, start as start_dp, stop as stop_dp

SUITE = "aes128gcm"
IP_LEN = 64
PEER, GW = ipaddress.IPv4Address("192.0.2.2").packed, ipaddress.IPv4Address("192.0.2.1").packed


def flow(f):
    """Flow f (as bench/natfw_micro.cpp): 4096 clients 10.20.x.y, client port
    1024 + f/4096, 256 remote hosts 203.0.113.z x 64 ports (enough remote endpoints
    that 1,000,000 sessions share the public ports without exhausting them)."""
    return (0x0A140000 | (f & 0xFFF), 0xCB007100 | ((f * 7) & 0xFF), 1024 + (f >> 12), 5000 + ((f >> 8) & 63))


def make_pcap(pdir, n_flows):
    """ESP from the peer carrying one 64-byte UDP packet per flow, flows shuffled (seed
    fixed: no locality between consecutive packets). Cached by name."""
    path = os.path.join(pdir, f"natfw-{SUITE}-{n_flows}.pcap")
    if os.path.exists(path):
        return path
    order = list(range(n_flows))
    random.Random(5).shuffle(order)
    enc = _EspEncryptor(SUITE, 0)
    pay = IP_LEN - 28

    def frames():
        for i, f in enumerate(order):
            src, dst, sport, dport = flow(f)
            udp = struct.pack("!HHHH", sport, dport, 8 + pay, 0)
            inner = _ipv4(IP_LEN, i, 17, src.to_bytes(4, "big"), dst.to_bytes(4, "big")) + udp + _PATTERN[:pay]
            esp = enc.encrypt(inner)
            yield _ETH_OUT + _ipv4(20 + len(esp), i, 50, PEER, GW) + esp
    write_raw(path, frames())
    return path


def rules_toml(n_rules):
    out = ["[firewall]", 'default = "drop"']
    for i in range(n_rules - 1):
        out += ["[[firewall.rule]]", f'destination = "198.18.{i >> 8 & 255}.{i & 255}/32"', 'protocol = "udp"',
                f"ports = {7000 + (i >> 16)}", 'action = "drop"']
    out += ["[[firewall.rule]]", 'comment = "the measured traffic"', 'source = "10.20.0.0/16"',
            'destination = "203.0.113.0/24"', 'protocol = "udp"', 'action = "allow"']
    return out


def write_config(path, pcap, n_flows, nat, n_rules, lcore):
    s = SUITES[SUITE]
    mbufs = min(1048575, n_flows + 32768)  # infinite_rx keeps every frame in an mbuf
    out = [
        "[dataplane]", "workers = 1", f"lcores = [{lcore}]", "burst = 32", 'idle = "off"', 'hugepages = "off"',
        f"memory_mb = {4096 if n_flows > 100000 else 1024}", f"mbufs = {mbufs}",
        "[[port]]", 'name = "outside"', 'role = "outside"', f'device = "net_pcap0,rx_pcap={pcap},infinite_rx=1"',
        'addresses = ["192.0.2.1/24"]',
        "[[port]]", 'name = "inside"', 'role = "inside"', 'device = "net_null1,no-rx=1"', 'addresses = ["10.10.0.1/24"]',
        "[[route]]", 'prefix = "203.0.113.0/24"', 'via = "10.10.0.2"', 'port = "inside"',
        "[[neighbor]]", 'address = "192.0.2.2"', 'mac = "02:00:00:00:02:02"', 'port = "outside"',
        "[[neighbor]]", 'address = "10.10.0.2"', 'mac = "02:00:00:00:01:02"', 'port = "inside"',
        "[[sa]]", "id = 1", f"spi = {spi_for(0, 'in')}", 'direction = "in"', f'suite = "{s["espgw"]}"',
        f'keymat = "{keymat(SUITE, 0, "in").hex()}"', 'tunnel_src = "192.0.2.2"', 'tunnel_dst = "192.0.2.1"',
        "replay_window = 0",  # the replayed pcap repeats sequence numbers
        "[[sa]]", "id = 2", f"spi = {spi_for(0, 'out')}", 'direction = "out"', f'suite = "{s["espgw"]}"',
        f'keymat = "{keymat(SUITE, 0, "out").hex()}"', 'tunnel_src = "192.0.2.1"', 'tunnel_dst = "192.0.2.2"',
        # The road warriors' full tunnel: the decrypted packets' policy check (RFC 4301 §5.2).
        "[[policy]]", "priority = 10", 'dst = "10.20.0.0/16"', 'action = "protect"', "sa = 2",
    ]
    if nat:
        out += ["[nat]", f"max_sessions = {n_flows}", "[[masquerade]]", 'source = "10.20.0.0/16"', 'port = "inside"']
    if n_rules:
        out += rules_toml(n_rules)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def _rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure(binary, workdir, pcap, n_flows, nat, n_rules, seconds, warmup, lcore, prefix):
    """One trial: dict(pps, sessions, rss_kib, start_s, warmup_s, ...) or RuntimeError."""
    tag = f"natfw-{n_flows}-{'nat' if nat else 'nonat'}-{n_rules}"
    cfg = os.path.join(workdir, f"{tag}.toml")
    write_config(cfg, pcap, n_flows, nat, n_rules, lcore)
    sock = os.path.join(workdir, f"natfw-{os.getpid()}.sock")
    logf = os.path.join(workdir, f"{tag}.log")
    p, log, start_s = start_dp(binary, cfg, prefix, sock, logf, 1200)
    try:
        # Warm-up: at least one whole pass of the pcap (every flow seen: its session made).
        t_w = time.monotonic()
        while True:
            time.sleep(0.2)
            rx = port_counter(query(sock, "ports"), "outside", "rx_packets")
            if rx >= n_flows and time.monotonic() - t_w >= warmup:
                break
            if time.monotonic() - t_w > 120:
                raise RuntimeError(f"warm-up: {rx} of {n_flows} frames received in 120 s")
        warm_s = time.monotonic() - t_w
        nat_st = query(sock, "show nat") if nat else {}
        rss = _rss_kib(p.pid)
        t0, c0 = time.monotonic(), port_counter(query(sock, "ports"), "inside", "tx_packets")
        time.sleep(seconds)
        t1, c1 = time.monotonic(), port_counter(query(sock, "ports"), "inside", "tx_packets")
        rules = query(sock, "show rules") if n_rules else {}
        d = query(sock, "drops")
        drops = {k: v for k, v in d.get("drops", d).items() if isinstance(v, int) and v}
    finally:
        stop_dp(p, log, timeout=20)
    if c1 <= c0:
        raise RuntimeError(f"espgw-dp forwarded nothing; drops {drops} (log {logf})")
    r = {"pps": (c1 - c0) / (t1 - t0), "start_s": start_s, "warmup_s": warm_s, "rss_kib": rss, "drops": drops}
    if nat:
        r.update(sessions=nat_st.get("sessions"), capacity=nat_st.get("capacity"),
                 bytes_per_session=nat_st.get("bytes_per_session"), table_full=nat_st.get("table_full"),
                 ports_exhausted=nat_st.get("ports_exhausted"))
    if n_rules:
        r["allow_hits"] = rules["rules"][-1]["packets"]
        r["fw_dropped"] = rules.get("dropped")
    return r


def variants(rule_counts):
    """(name, nat, rules): the pipeline without them first, then masquerade alone, then
    masquerade + each firewall size."""
    return [("base", False, 0), ("nat", True, 0)] + [(f"nat+fw{r}", True, r) for r in rule_counts]


def run(binary, work, pdir, flow_counts, rule_counts, trials_of, seconds, warmup, lcore, log):
    """All variants for every flow count, trials_of(flows) trials each, interleaved
    (variant order rotates per trial so a noisy stretch of the shared machine hits every
    variant). Returns rows."""
    rows = []
    for nf in flow_counts:
        log(f"natfw: pcap of {nf} flows")
        pcap = make_pcap(pdir, nf)
        vs = variants(rule_counts)
        res = {v[0]: [] for v in vs}
        extra, errs, by_trial = {}, {}, {}
        load0 = os.getloadavg()[0]
        trials = trials_of(nf)
        for t in range(trials):
            order = vs[t % len(vs):] + vs[:t % len(vs)]
            for name, nat, nr in order:
                log(f"natfw: {nf} flows, {name}, trial {t + 1}/{trials}")
                try:
                    r = measure(binary, work, pcap, nf, nat, nr, seconds, warmup, lcore, "bench-natfw")
                    res[name].append(r["pps"])
                    by_trial.setdefault(name, {})[t] = r["pps"]
                    extra.setdefault(name, []).append(r)
                except Exception as e:  # noqa: BLE001
                    errs[name] = str(e)
        base = statistics.median(res["base"]) if res["base"] else None
        for name, nat, nr in vs:
            row = {"flows": nf, "variant": name, "nat": nat, "rules": nr, "loadavg": [load0, os.getloadavg()[0]]}
            if res[name]:
                mpps = [x / 1e6 for x in res[name]]
                med = statistics.median(mpps)
                row.update(mpps=med, min_mpps=min(mpps), max_mpps=max(mpps), trials=len(mpps),
                           ns_per_packet=1e3 / med)
                row["trial_mpps"] = [round(x, 4) for x in mpps]
                if base:
                    row["added_ns"] = 1e3 / med - 1e3 / (base / 1e6)
                    row["vs_base"] = med / (base / 1e6)
                # Paired with the base run of the same round (run back to back): less
                # exposed to the load drifting between rounds on a shared machine.
                pairs = [(by_trial[name][t], by_trial["base"][t]) for t in by_trial.get(name, {})
                         if t in by_trial.get("base", {})]
                if pairs:
                    row["paired_vs_base"] = statistics.median(v / b for v, b in pairs)
                    row["paired_added_ns"] = statistics.median(1e9 / v - 1e9 / b for v, b in pairs)
                last = extra[name][-1]
                for k in ("sessions", "capacity", "bytes_per_session", "table_full", "ports_exhausted", "allow_hits",
                          "fw_dropped", "rss_kib", "start_s", "warmup_s"):
                    if k in last:
                        row[k] = last[k]
                row["rss_kib_median"] = statistics.median(x["rss_kib"] for x in extra[name])
            else:
                row["error"] = errs.get(name, "no result")
            rows.append(row)
        b = next((r for r in rows if r["flows"] == nf and r["variant"] == "base" and "rss_kib_median" in r), None)
        n = next((r for r in rows if r["flows"] == nf and r["variant"] == "nat" and "rss_kib_median" in r), None)
        if b and n:
            n["rss_bytes_per_session"] = (n["rss_kib_median"] - b["rss_kib_median"]) * 1024 / nf
    return rows


def table(rows):
    """Markdown lines of the natfw rows."""
    md = ["| flows (sessions) | variant | Mpps/core median [min–max] | ns/packet | added ns/packet vs base | "
          "vs base | paired: added ns, vs base | sessions after warm-up | table_full | allow-rule hits | load 1-min |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "mpps" not in r:
            md.append(f"| {r['flows']:,} | {r['variant']} | error: {r.get('error', '')[:120]} | | | | | | | | |")
            continue
        md.append(
            f"| {r['flows']:,} | {r['variant']} | {r['mpps']:.3f} [{r['min_mpps']:.3f}–{r['max_mpps']:.3f}] | "
            f"{r['ns_per_packet']:.0f} | {r.get('added_ns', 0):+.0f} | {r.get('vs_base', 1):.2f}× | "
            f"{r.get('paired_added_ns', 0):+.0f}, {r.get('paired_vs_base', 1):.2f}× | "
            f"{r.get('sessions', '–') if r['nat'] else '–'} | {r.get('table_full', '–') if r['nat'] else '–'} | "
            f"{r.get('allow_hits', '–') if r['rules'] else '–'} | {r['loadavg'][0]:.1f}→{r['loadavg'][1]:.1f} |")
    mem = [r for r in rows if r["variant"] == "nat" and "bytes_per_session" in r]
    if mem:
        md += ["", "| flows | session table capacity | bytes/session (show nat) | RSS nat − RSS base, per session |",
               "|---|---|---|---|"]
        for r in mem:
            rb = r.get("rss_bytes_per_session")
            md.append(f"| {r['flows']:,} | {r.get('capacity', '–'):,} | {r['bytes_per_session']} | "
                      f"{f'{rb:.0f}' if rb is not None else '–'} |")
    return md

#!/usr/bin/python3
"""espgw-dp's idle modes on real ports: [dataplane] idle = "interrupt" vs "sleep".

    edb-lan 10.10.0.2 == edb-tapi (net_tap) espgw-dp (net_tap) edb-tapo == edb-out 192.0.2.2
                         inside 10.10.0.1           outside 192.0.2.1      (bypass policy)

espgw-dp runs in namespace edb-gw with two net_tap ports (DPDK's tap PMD has RX queue
interrupts: the queue's tap fd); the tap interfaces are then moved into the host
namespaces. One worker. Cases:
  - interrupt mode: the worker logs that it armed RX interrupts; idle for 3 s it runs
    about one loop iteration per 10 ms wait (kIntrWaitMs), not thousands, and the process
    CPU stays low; ping lan -> out is forwarded (bypass) both ways and the appliance
    answers ping; the idle counters moved.
  - sleep mode, same ports: idle iterations/s and CPU printed for comparison (a 1 ms
    sleep cap is ~1000 iterations/s).
  - interrupt mode with the outside port on net_af_packet (veth; no RX interrupts):
    the worker logs one reason naming the port and sleeps; traffic still forwarded.
Prints "TESTCASE PASS|FAIL name[: reason]"; exits 1 if any failed.
  dp_idle_intr.py [--build-dir build] [--keep]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_common as dc  # noqa: E402

NS_GW, NS_LAN, NS_OUT = "edb-gw", "edb-lan", "edb-out"
ALL_NS = (NS_GW, NS_LAN, NS_OUT)
IDLE_S = 3.0
results = []


def report(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def config(mode, outside_dev, inside_dev):
    return f"""
[dataplane]
workers = 1
idle = "{mode}"
hugepages = "off"
memory_mb = 256

[[port]]
name = "outside"
role = "outside"
device = "{outside_dev}"
addresses = ["192.0.2.1/24"]
mtu = 1500

[[port]]
name = "inside"
role = "inside"
device = "{inside_dev}"
addresses = ["10.10.0.1/24"]
mtu = 1500

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"
"""


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def move_host_end(ifname, ns, addr, route=None):
    dc.sh(["ip", "link", "set", ifname, "netns", ns], NS_GW)
    dc.sh(["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], ns)
    dc.host_link(ns, ifname, addr)
    if route:
        dc.sh(["ip", "route", "add"] + route, ns)


def idle_figures(proc, sock):
    """Idle for IDLE_S: (worker iterations/s, process CPU %, waits/s)."""
    time.sleep(0.5)  # let the last replies drain and the back-off start
    w0 = dc.query(sock, "stats")["workers"][0]
    c0, t0 = cpu_ticks(proc.pid), time.monotonic()
    time.sleep(IDLE_S)
    w1 = dc.query(sock, "stats")["workers"][0]
    c1, t1 = cpu_ticks(proc.pid), time.monotonic()
    dt = t1 - t0
    hz = os.sysconf("SC_CLK_TCK")
    return ((w1["iterations"] - w0["iterations"]) / dt, 100.0 * (c1 - c0) / hz / dt,
            (w1["sleeps"] - w0["sleeps"]) / dt)


def run_case(bin_path, tmp, mode, af_packet_outside):
    """Starts espgw-dp, wires the hosts, measures idle, checks forwarding.
    Returns (proc, sock, log path) or raises RuntimeError."""
    dc.add_netns(ALL_NS)
    procs = dc.Procs()
    tag = f"edb-idle-{mode}{'-afp' if af_packet_outside else ''}"
    if af_packet_outside:
        dc.veth("edb-vo", NS_GW, "edb-tapo", NS_OUT)
        dc.dp_port_link(NS_GW, "edb-vo")
        outside = "net_af_packet0,iface=edb-vo"
    else:
        outside = "net_tap0,iface=edb-tapo"
    inside = "net_tap1,iface=edb-tapi"
    sock, why = dc.start_dp(procs, bin_path, NS_GW, config(mode, outside, inside), tmp, tag)
    log = os.path.join(tmp, f"{tag}.dp.log")
    if not sock:
        procs.stop_all()
        raise RuntimeError(why)
    proc = procs.procs[0]
    if af_packet_outside:
        dc.host_link(NS_OUT, "edb-tapo", "192.0.2.2/24")
        dc.sh(["ip", "route", "add", "10.10.0.0/24", "via", "192.0.2.1"], NS_OUT)
    else:
        move_host_end("edb-tapo", NS_OUT, "192.0.2.2/24", ["10.10.0.0/24", "via", "192.0.2.1"])
    move_host_end("edb-tapi", NS_LAN, "10.10.0.2/24", ["default", "via", "10.10.0.1"])
    return procs, proc, sock, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    bin_path = dc.binary(args.build_dir)
    if not os.access(bin_path, os.X_OK):
        report(False, "espgw_dp_binary", f"{bin_path} not built")
        sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="edb-idle-")
    figures = {}
    for mode, afp in (("interrupt", False), ("sleep", False), ("interrupt", True)):
        name = f"{mode}{'_af_packet_outside' if afp else '_tap'}"
        procs = None
        try:
            procs, proc, sock, log = run_case(bin_path, tmp, mode, afp)
            # Traffic first (ARP on both sides), then idle, then traffic again.
            ok, last = dc.ping(NS_LAN, "192.0.2.2", count=3)
            report(ok, f"{name}_ping_lan_to_out_forwarded", last[0])
            it_s, cpu, waits_s = idle_figures(proc, sock)
            figures[name] = (it_s, cpu, waits_s)
            print(f"  {name}: idle {it_s:.0f} loop iterations/s, {waits_s:.0f} waits/s, process CPU {cpu:.1f} %",
                  flush=True)
            ok, last = dc.ping(NS_LAN, "192.0.2.2", count=5)
            report(ok, f"{name}_ping_after_idle_forwarded", last[0])
            print(f"  {name}: ping after idle: {last[0]}", flush=True)
            ok, last = dc.ping(NS_LAN, "10.10.0.1", count=2)
            report(ok, f"{name}_appliance_answers_ping", last[0])
            st = dc.query(sock, "stats")
            report(st["path"]["bypass_packets"] >= 16 and st["workers"][0]["sleeps"] > 0,
                   f"{name}_bypass_and_idle_counters_moved",
                   f"bypass {st['path']['bypass_packets']}, waits {st['workers'][0]['sleeps']}")
            text = open(log).read()
            if mode == "interrupt" and not afp:
                report("RX interrupts armed on 2 queue(s)" in text, f"{name}_rx_interrupts_armed", text[-400:])
                # One wait per kIntrWaitMs (10 ms) plus the polls around it: ~100/s.
                report(it_s < 400, f"{name}_idle_worker_waits_not_spins", f"{it_s:.0f} iterations/s")
                report(cpu < 5.0, f"{name}_idle_cpu_below_5pct", f"{cpu:.1f} %")
            elif afp:
                report("port outside (net_af_packet) queue 0 has no RX interrupt" in text and
                       "sleeps when idle instead" in text and text.count("has no RX interrupt") == 1,
                       f"{name}_falls_back_to_sleep_with_one_reason", text[-400:])
        except Exception as e:  # noqa: BLE001 - a broken test bed is a failure, never a skip
            report(False, f"{name}_testbed", str(e))
        finally:
            if procs:
                procs.stop_all()
            if not args.keep:
                dc.del_netns(ALL_NS)
    if "interrupt_tap" in figures and "sleep_tap" in figures:
        i, s = figures["interrupt_tap"], figures["sleep_tap"]
        print(f"idle: interrupt {i[0]:.0f} it/s {i[1]:.1f} % CPU; sleep {s[0]:.0f} it/s {s[1]:.1f} % CPU", flush=True)
        report(i[0] < s[0], "interrupt_idles_with_fewer_wakeups_than_sleep", f"{i[0]:.0f} vs {s[0]:.0f} it/s")
    print(f"logs: {tmp}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

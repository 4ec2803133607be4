#!/usr/bin/python3
"""Demo stage: espgw-dp carrying a tunnel to an independent ESP peer (scapy).

    edemo-peer                          edemo-gw                         edemo-lan
    [tun edemo-tun 10.20.0.1]           espgw-dp (net_af_packet)         10.10.0.2
    [dp_esp_host.py: scapy ESP] edemo-p0 ==== edemo-gwo (outside) (inside) edemo-gwi ==== edemo-l0
    192.0.2.2                           192.0.2.1                        10.10.0.1

For each variant (AES-GCM-128 tunnel over plain ESP, then over UDP 4500): ping from the
peer's inner address to the lan host and back, a TCP echo transfer, then espgw-dp's
counters (ports, path, SAs, drops by reason). Prints "TESTCASE PASS|FAIL name" lines and
exits 1 if any step failed.
  demo_dataplane.py [--build-dir build] [--keep]
"""
import argparse
import os
import secrets
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_common as dc  # noqa: E402

NS_PEER, NS_GW, NS_LAN = "edemo-peer", "edemo-gw", "edemo-lan"
TCP_BYTES = 200000
results = []


def report(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def topology():
    dc.add_netns((NS_PEER, NS_GW, NS_LAN))
    dc.veth("edemo-p0", NS_PEER, "edemo-gwo", NS_GW)
    dc.veth("edemo-l0", NS_LAN, "edemo-gwi", NS_GW)
    dc.dp_port_link(NS_GW, "edemo-gwo")
    dc.dp_port_link(NS_GW, "edemo-gwi")
    dc.host_link(NS_PEER, "edemo-p0", "192.0.2.2/24")
    dc.host_link(NS_LAN, "edemo-l0", "10.10.0.2/24", gw="10.10.0.1")


def variant(name, udp, procs, bin_path, tmp):
    print(f"\n--- {name}: AES-GCM-128 tunnel, {'ESP in UDP 4500 (RFC 3948)' if udp else 'plain ESP (IP proto 50)'}",
          flush=True)
    k_out, k_in = secrets.token_hex(dc.SUITE_KEYS["aes128gcm16"]), secrets.token_hex(dc.SUITE_KEYS["aes128gcm16"])
    cfg = dc.dp_config(outside_if="edemo-gwo", outside_addr="192.0.2.1/24", inside_if="edemo-gwi",
                       inside_addr="10.10.0.1/24", local="192.0.2.1", remote="192.0.2.2", out_spi=0x1001,
                       out_key=k_out, in_spi=0x2001, in_key=k_in, protect_src="10.10.0.0/24",
                       protect_dst="10.20.0.0/24", udp=udp)
    sock, why = dc.start_dp(procs, bin_path, NS_GW, cfg, tmp, f"edemo-{name}")
    if not sock:
        report(False, f"{name}.espgw_dp_start", why)
        return
    hlog = os.path.join(tmp, f"{name}.host.log")
    args = ["daemon", "--suite", "aes128gcm16", "--local", "192.0.2.2", "--remote", "192.0.2.1", "--tx-spi", "0x2001",
            "--tx-key", k_in, "--rx-spi", "0x1001", "--rx-key", k_out, "--tun", "edemo-tun"] + (["--udp"] if udp else [])
    host = procs.start([dc.PY, dc.HOST] + args, NS_PEER, hlog)
    if not dc.wait_for(hlog, "esp-host: ready", host):
        report(False, f"{name}.scapy_esp_host_start", open(hlog).read()[-600:])
        return
    dc.sh(["ip", "link", "set", "edemo-tun", "up"], NS_PEER)
    dc.sh(["ip", "addr", "add", "10.20.0.1/24", "dev", "edemo-tun"], NS_PEER)
    dc.sh(["ip", "route", "add", "10.10.0.0/24", "dev", "edemo-tun", "src", "10.20.0.1"], NS_PEER)
    dc.sh(["ip", "route", "replace", "10.20.0.0/24", "via", "10.10.0.1"], NS_LAN)
    elog = os.path.join(tmp, f"{name}.echo.log")
    srv = procs.start([dc.PY, "-c", dc.ECHO_SERVER, "10.10.0.2"], NS_LAN, elog)
    dc.wait_for(elog, "ready", srv, 5)
    try:
        ok, last = dc.ping(NS_PEER, "10.10.0.2", count=4, extra=["-I", "10.20.0.1"])
        print(f"  ping peer 10.20.0.1 -> lan 10.10.0.2: {last[0]}")
        report(ok, f"{name}.ping_peer_to_lan", last[0])
        ok, last = dc.ping(NS_LAN, "10.20.0.1", count=4)
        print(f"  ping lan 10.10.0.2 -> peer 10.20.0.1: {last[0]}")
        report(ok, f"{name}.ping_lan_to_peer", last[0])
        t0 = time.time()
        p = dc.sh([dc.PY, "-c", dc.TCP_CLIENT, "10.10.0.2", str(TCP_BYTES)], NS_PEER, check=False, timeout=60)
        dt = time.time() - t0
        ok = p.stdout.strip() == "ok"
        print(f"  TCP echo peer -> lan: {TCP_BYTES} bytes sent and {'returned intact' if ok else 'NOT returned'}"
              f" in {dt:.1f} s (scapy encrypts each packet in Python: slow by design)")
        report(ok, f"{name}.tcp_echo_{TCP_BYTES // 1000}k", (p.stdout + p.stderr).strip()[-200:])
        st = dc.query(sock)
        print(dc.format_counters(st, f"espgw-dp [{name}]"))
        sas = {s["direction"]: s["packets"] for s in st["sa"]}
        bad = st["drops"].get("esp_icv_mismatch", 0) + st["drops"].get("esp_replay_duplicate", 0)
        report(sas.get("in", 0) > 0 and sas.get("out", 0) > 0 and bad == 0, f"{name}.sa_counters_moved_no_esp_errors",
               f"sa packets {sas} icv/replay drops {bad}")
    finally:
        dc.sh(["ip", "route", "del", "10.20.0.0/24"], NS_LAN, check=False)
        procs.stop_all()
        time.sleep(0.3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    bin_path = dc.binary(a.build_dir)
    if not os.access(bin_path, os.X_OK):
        report(False, "espgw_dp_binary", f"{bin_path} not built")
        sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="edemo-")
    procs = dc.Procs()
    try:
        topology()
        variant("gcm128", False, procs, bin_path, tmp)
        variant("gcm128_udp4500", True, procs, bin_path, tmp)
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        report(False, "testbed", str(e))
    finally:
        procs.stop_all()
        if not a.keep:
            dc.del_netns((NS_PEER, NS_GW, NS_LAN))
    print(f"logs: {tmp}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

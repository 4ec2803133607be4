#!/usr/bin/python3
"""espctl against a running espgw-dp, with a scapy ESP host as the tunnel peer.

    edc-peer                          edc-gw                          edc-lan
    [tun edc-tun 10.20.0.1]           espgw-dp (net_af_packet)        10.10.0.2
    [dp_esp_host.py: scapy ESP] edc-p0 ==== edc-gwo (outside)  (inside) edc-gwi ==== edc-l0
    192.0.2.2                         192.0.2.1                       10.10.0.1

espgw-dp starts as a small --no-huge instance (max_sas/max_policies/max_routes = 16)
with NO SA and only bypass policies; everything else is done with espctl while the
ESP host keeps sending:
  - ping through the tunnel fails before `sa add` (no_sa), works after `sa add` x2 +
    `policy add`; `policy del` stops it (the decrypted packets fail the selector
    check: the SA's ts_mismatch counter), `policy add` restores it; `sa del` stops it
    again (no_sa);
  - a static SA with soft_packets=3 hard_packets=6: traffic flows, the soft event is
    raised first (hard not yet), then the 7th packet is dropped as sa_expired and in
    the SA's hard_expired counter, hard event raised;
  - ping to the gateway's inside address through the tunnel is answered through it;
  - per-SA drop counters after a bit-flipped (icv) and a replayed (replay) packet;
  - `espctl --json show sa` parses; route add/list/del; socket mode 0660;
  - espctl errors: a bad key is named (and key bytes are never echoed, nor logged),
    unknown command, refused delete, no daemon, espgw-ike not reachable;
  - config: out-of-range max_sas refused naming the key.

Prints "TESTCASE PASS|FAIL name[: reason]"; exits 1 if any failed.
  dp_ctl_scapy.py [--build-dir build] [--keep]     (ESPGW_BUILD_DIR overrides)
"""
import argparse
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo_common as dc  # noqa: E402

NS_PEER, NS_LAN, NS_GW = "edc-peer", "edc-lan", "edc-gw"
TMP = tempfile.mkdtemp(prefix="edc-ctl-")
SOCK = os.path.join(TMP, "ctl.sock")
results = []


def report(ok, name, why=""):
    results.append(bool(ok))
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def config(max_sas=16):
    return f"""
[dataplane]
workers = 1
idle_backoff = true
hugepages = "off"
memory_mb = 256
max_sas = {max_sas}
max_policies = 16
max_routes = 16
control_group = "root"

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=edc-gwo"
addresses = ["192.0.2.1/24"]

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface=edc-gwi"
addresses = ["10.10.0.1/24"]

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"
"""


def topology():
    dc.add_netns([NS_PEER, NS_LAN, NS_GW])
    dc.veth("edc-p0", NS_PEER, "edc-gwo", NS_GW)
    dc.veth("edc-l0", NS_LAN, "edc-gwi", NS_GW)
    dc.dp_port_link(NS_GW, "edc-gwo")
    dc.dp_port_link(NS_GW, "edc-gwi")
    dc.host_link(NS_PEER, "edc-p0", "192.0.2.2/24")
    dc.host_link(NS_LAN, "edc-l0", "10.10.0.2/24", "10.10.0.1")
    dc.sh(["ip", "route", "add", "10.20.0.0/24", "via", "10.10.0.1"], NS_LAN)


class Ctl:
    """Runs espctl against the test's socket; remembers every output (key-leak check)."""

    def __init__(self, binary):
        self.binary = binary
        self.outputs = []

    def __call__(self, *args, sock=SOCK, json_out=False):
        cmd = [self.binary, "--socket", sock] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        self.outputs.append(p.stdout + p.stderr)
        return p

    def json(self, *args):
        p = self(*args, json_out=True)
        return json.loads(p.stdout) if p.returncode == 0 else {"espctl_rc": p.returncode, "stderr": p.stderr}


def sa_by_id(ctl, sa_id):
    for s in ctl.json("show", "sa"):
        if s["id"] == sa_id:
            return s
    return None


def ping(dst, count=2, src=None):
    extra = ["-I", src] if src else []
    ok, _ = dc.ping(NS_PEER, dst, count=count, extra=extra)
    return ok


def ping_replies(dst, count):
    p = dc.sh(["ping", "-c", str(count), "-i", "0.2", "-W", "1", dst], NS_PEER, check=False, timeout=30)
    for line in p.stdout.splitlines():
        if "received" in line:
            return int(line.split(",")[1].split()[0])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    dp_bin = dc.binary(args.build_dir)
    ctl_bin = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(dp_bin))), "control", "espctl")
    for b in (dp_bin, ctl_bin):
        if not os.path.exists(b):
            report(False, "binaries_built", f"{b} missing")
            return 1
    ctl = Ctl(ctl_bin)
    k_out = secrets.token_hex(20)  # aes128gcm16: 16-byte key + 4-byte salt
    k_in = secrets.token_hex(20)

    # --- config capacity checks (no EAL: --check) ---
    bad = os.path.join(TMP, "bad.toml")
    with open(bad, "w") as f:
        f.write(config(max_sas=5))
    p = subprocess.run([dp_bin, "--config", bad, "--check"], capture_output=True, text=True, timeout=20)
    report(p.returncode == 2 and "dataplane.max_sas" in p.stderr and "out of range" in p.stderr,
           "config_max_sas_out_of_range_refused_naming_key", f"rc {p.returncode}: {p.stderr.strip()[-200:]}")

    # --- no daemon ---
    p = ctl("show", "sa", sock=os.path.join(TMP, "none.sock"))
    report(p.returncode == 3 and "espgw-dp not running" in p.stderr, "espctl_no_daemon_exit_3",
           f"rc {p.returncode}: {p.stderr.strip()}")
    p = subprocess.run([ctl_bin, "--ike-socket", os.path.join(TMP, "ike.sock"), "conn", "list"], capture_output=True,
                       text=True, timeout=20)
    report(p.returncode == 3 and "espgw-ike not reachable" in p.stderr, "espctl_ike_commands_routed_not_reachable",
           f"rc {p.returncode}: {p.stderr.strip()}")
    p = ctl("frobnicate", "now")
    report(p.returncode == 2 and "unknown command" in p.stderr, "espctl_unknown_command_exit_2",
           f"rc {p.returncode}: {p.stderr.strip()}")

    procs = dc.Procs()
    try:
        topology()
        cfg = os.path.join(TMP, "dp.toml")
        with open(cfg, "w") as f:
            f.write(config())
        dplog = os.path.join(TMP, "dp.log")
        dp = procs.start([dp_bin, "--config", cfg, "--file-prefix", "edc-ctl", "--stats-socket", SOCK], NS_GW, dplog)
        if not dc.wait_for(dplog, "ready:", dp, timeout=30):
            report(False, "dp_small_instance_started", f"espgw-dp did not start: {open(dplog).read()[-600:]}")
            return 1
        report(True, "dp_small_instance_started")
        st = os.stat(SOCK)
        report(stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == 0, "control_socket_mode_0660_group",
               f"mode {oct(stat.S_IMODE(st.st_mode))} gid {st.st_gid}")

        hlog = os.path.join(TMP, "host.log")
        host = procs.start([dc.PY, dc.HOST, "daemon", "--suite", "aes128gcm16", "--local", "192.0.2.2", "--remote",
                            "192.0.2.1", "--tx-spi", "0x2001", "--tx-key", k_in, "--rx-spi", "0x1001", "--rx-key",
                            k_out, "--tun", "edc-tun"], NS_PEER, hlog)
        if not dc.wait_for(hlog, "esp-host: ready", host):
            report(False, "esp_host_started", open(hlog).read()[-400:])
            return 1
        dc.sh(["ip", "link", "set", "edc-tun", "up"], NS_PEER)
        dc.sh(["ip", "addr", "add", "10.20.0.1/24", "dev", "edc-tun"], NS_PEER)
        dc.sh(["ip", "route", "add", "10.10.0.0/24", "dev", "edc-tun", "src", "10.20.0.1"], NS_PEER)

        # --- before any SA: dropped as no_sa ---
        d0 = ctl.json("show", "drops")
        ok = ping("10.10.0.2", count=1)
        d1 = ctl.json("show", "drops")
        report(not ok and d1["no_sa"] > d0["no_sa"], "no_traffic_before_sa_add",
               f"ping ok={ok} no_sa {d0['no_sa']}->{d1['no_sa']}")

        # --- espctl error cases on a live daemon ---
        p = ctl("sa", "add", "id=1", "spi=0x1001", "direction=out", "suite=aes128gcm16", f"keymat={k_out[:-2]}",
                "tunnel_src=192.0.2.1", "tunnel_dst=192.0.2.2")
        report(p.returncode == 2 and "sa.keymat" in p.stderr and k_out[:16] not in p.stderr,
               "sa_add_bad_keymat_names_key_not_bytes", f"rc {p.returncode}: {p.stderr.strip()}")
        p = ctl("sa", "add", "id=1", "spi=0x1001", "direction=out", "suite=aes128gcm16", f"keymat={k_out}",
                "tunnel_src=192.0.2.1", "tunnel_dst=192.0.2.2", "colour=blue")
        report(p.returncode == 2 and "sa.colour: unknown key" in p.stderr, "sa_add_unknown_key_named",
               f"rc {p.returncode}: {p.stderr.strip()}")
        p = ctl("sa", "add", "id=1", "direction=out", "suite=aes128gcm16", f"keymat={k_out}", "tunnel_src=192.0.2.1",
                "tunnel_dst=192.0.2.2")
        report(p.returncode == 2 and "sa.spi: missing" in p.stderr, "sa_add_missing_key_named",
               f"rc {p.returncode}: {p.stderr.strip()}")
        p = ctl("sa", "del", "99")
        report(p.returncode == 1 and "refused" in p.stderr, "sa_del_unknown_refused_exit_1",
               f"rc {p.returncode}: {p.stderr.strip()}")

        # --- sa add + policy add: traffic starts ---
        def add_pair(in_id=2, life=()):
            a = ctl("sa", "add", "id=1", "spi=0x1001", "direction=out", "suite=aes128gcm16", f"keymat={k_out}",
                    "tunnel_src=192.0.2.1", "tunnel_dst=192.0.2.2")
            b = ctl("sa", "add", f"id={in_id}", "spi=0x2001", "direction=in", "suite=aes128gcm16", f"keymat={k_in}",
                    "tunnel_src=192.0.2.2", "tunnel_dst=192.0.2.1", "replay_window=1024", *life)
            return a, b

        a, b = add_pair()
        pa = ctl.json("policy", "add", "priority=10", "src=10.10.0.0/24", "dst=10.20.0.0/24", "action=protect", "sa=1")
        time.sleep(0.3)  # the main loop republishes the SPD within 100 ms
        ok = ping("10.10.0.2")
        report(a.returncode == 0 and b.returncode == 0 and pa.get("ok") and ok, "sa_add_policy_add_traffic_flows",
               f"sa add rc {a.returncode}/{b.returncode} {a.stderr.strip()} {b.stderr.strip()} policy {pa} ping {ok}")
        pol_id = pa.get("id")

        # --- ping the gateway's inside address through the tunnel ---
        w0 = ctl.json("show", "counters")
        ok = ping("10.10.0.1", src="10.20.0.1")
        w1 = ctl.json("show", "counters")
        out_sa = sa_by_id(ctl, 1) or {}
        report(ok and w1["path"]["local_packets"] > w0["path"]["local_packets"] and
               w1["drops"]["local_unhandled"] == w0["drops"]["local_unhandled"],
               "ping_gateway_inside_address_through_tunnel",
               f"ping {ok} local {w0['path']['local_packets']}->{w1['path']['local_packets']} "
               f"local_unhandled {w0['drops']['local_unhandled']}->{w1['drops']['local_unhandled']} out sa {out_sa}")

        # --- per-SA drop counters: bit flip (icv) and replay ---
        s0 = sa_by_id(ctl, 2)
        top = s0["seq"]
        base = ["--suite", "aes128gcm16", "--local", "192.0.2.2", "--remote", "192.0.2.1", "--tx-spi", "0x2001",
                "--tx-key", k_in, "--src", "10.20.0.1", "--dst", "10.10.0.2"]
        dc.sh([dc.PY, dc.HOST, "oneshot", "--kind", "bitflip", "--seq", str(top + 50)] + base, NS_PEER)
        dc.sh([dc.PY, dc.HOST, "oneshot", "--kind", "replay", "--seq", str(top)] + base, NS_PEER)
        time.sleep(0.5)
        s1 = sa_by_id(ctl, 2)
        report(s1["drops"]["icv"] == s0["drops"]["icv"] + 1 and s1["drops"]["replay"] == s0["drops"]["replay"] + 1,
               "per_sa_drops_icv_and_replay", f"before {s0['drops']} after {s1['drops']}")
        ok = ping("10.10.0.2")
        report(ok, "traffic_continues_after_bad_packets", "ping failed")

        # --- JSON and human-readable show ---
        p = ctl("show", "sa", json_out=True)
        try:
            j = json.loads(p.stdout)
            good = p.returncode == 0 and {s["id"] for s in j} == {1, 2} and all("drops" in s for s in j)
            why = p.stdout[:300]
        except ValueError as e:
            good, why = False, f"not JSON: {e}: {p.stdout[:200]}"
        report(good, "json_show_sa_parseable", why)
        p = ctl("show", "sa")
        h = ctl("show", "policies")
        report(p.returncode == 0 and "SPI" in p.stdout.splitlines()[0] and "PRIORITY" in h.stdout and
               "protect" in h.stdout, "human_tables_sa_policies", (p.stdout + h.stdout)[:400])

        # --- routes ---
        r1 = ctl("route", "add", "prefix=10.30.0.0/24", "port=inside", "via=10.10.0.2")
        l1 = ctl.json("show", "routes")
        r2 = ctl("route", "del", "10.30.0.0/24")
        l2 = ctl.json("route", "list")
        has = lambda lst: any(r["prefix"] == "10.30.0.0/24" and r["via"] == "10.10.0.2" for r in lst)  # noqa: E731
        report(r1.returncode == 0 and r2.returncode == 0 and has(l1) and not has(l2), "route_add_list_del",
               f"{r1.stderr}{r2.stderr} {l1} {l2}")

        # --- policy del stops traffic (selector check), policy add restores it ---
        s0 = sa_by_id(ctl, 2)
        pd = ctl("policy", "del", str(pol_id))
        time.sleep(0.3)
        ok = ping("10.10.0.2", count=1)
        s1 = sa_by_id(ctl, 2)
        report(pd.returncode == 0 and not ok and s1["drops"]["ts_mismatch"] > s0["drops"]["ts_mismatch"],
               "policy_del_stops_traffic_ts_mismatch_counted",
               f"rc {pd.returncode} ping {ok} ts_mismatch {s0['drops']['ts_mismatch']}->{s1['drops']['ts_mismatch']}")
        pa = ctl.json("policy", "add", "priority=10", "src=10.10.0.0/24", "dst=10.20.0.0/24", "action=protect", "sa=1")
        time.sleep(0.3)
        ok = ping("10.10.0.2")
        report(pa.get("ok") and ok, "policy_add_restores_traffic", f"{pa} ping {ok}")

        # --- sa del while traffic flows: stops with no_sa ---
        d0 = ctl.json("show", "drops")
        p1, p2 = ctl("sa", "del", "2"), ctl("sa", "del", "1")
        ok = ping("10.10.0.2", count=1)
        d1 = ctl.json("show", "drops")
        report(p1.returncode == 0 and p2.returncode == 0 and not ok and d1["no_sa"] > d0["no_sa"],
               "sa_del_stops_traffic_no_sa", f"rc {p1.returncode}/{p2.returncode} ping {ok} "
               f"no_sa {d0['no_sa']}->{d1['no_sa']}")

        # --- hard lifetime: soft event first, then hard drop ---
        a, b = add_pair(in_id=3, life=("soft_packets=3", "hard_packets=6"))
        n1 = ping_replies("10.10.0.2", 4)
        s1 = sa_by_id(ctl, 3) or {}
        report(a.returncode == 0 and b.returncode == 0 and n1 == 4 and s1.get("soft_event") and
               not s1.get("hard_expired") and not s1.get("hard_event"), "soft_lifetime_event_before_hard",
               f"rc {a.returncode}/{b.returncode} {b.stderr.strip()} replies {n1}/4 sa {s1}")
        d0 = ctl.json("show", "drops")
        n2 = ping_replies("10.10.0.2", 4)
        s2 = sa_by_id(ctl, 3) or {}
        d1 = ctl.json("show", "drops")
        report(n2 == 2 and s2.get("packets") == 6 and s2.get("hard_expired") and s2.get("hard_event") and
               s2["drops"]["hard_expired"] >= 2 and d1["sa_expired"] >= d0["sa_expired"] + 2,
               "hard_lifetime_stops_traffic_sa_expired",
               f"replies {n2}/4 (want 2) sa {s2} sa_expired {d0['sa_expired']}->{d1['sa_expired']}")

        # --- keys never echoed or logged ---
        dp_text = open(dplog).read()
        leaked = [k for k in (k_in, k_out, k_out[:-2]) if any(k in o for o in ctl.outputs) or k in dp_text]
        report(not leaked, "keys_never_in_answers_errors_or_log", f"{len(leaked)} keys found")
        return 0
    finally:
        procs.stop_all()
        if not args.keep:
            dc.del_netns([NS_PEER, NS_LAN, NS_GW])
            shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"dp_ctl_scapy: {sum(results)}/{len(results)} passed in {time.time() - t0:.1f} s", flush=True)
    sys.exit(1 if rc or not all(results) else 0)

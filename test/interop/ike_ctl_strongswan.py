#!/usr/bin/python3
"""espctl's IKE commands and espgw-ike's restart robustness against a strongSwan road
warrior behind a NAT (issue 4: CLI; issue 7: kill -9 of espgw-ike under traffic).

The topology of ike_dp_strongswan.py (espgw-dp + espgw-ike --dataplane in eikx-gw,
strongSwan with kernel-libipsec in eikx-rw behind the MASQUERADE of eikx-nat, lan host
eikx-lan), with espgw-ike's control socket and lease file. Cases: conn list and ike sa
list (--json parsed) show the road warrior with its virtual IP and CHILD_SA SPIs;
`ike sa delete` tears it down and strongSwan sees the Delete; reload of a broken file
is refused and changes nothing, of a good file is applied; the socket is mode 0660 and
`nobody` is refused; kill -9 of espgw-ike under a ping flow: ping keeps working, and
after the restart strongSwan (short DPD) re-establishes by itself and gets the same
virtual IP (lease file).

Prints TESTCASE lines; exits 1 if any failed. A daemon that fails to start is a FAIL.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ike_dp_strongswan as ikd  # noqa: E402  (configs, Procs, ping, demo_common, swan)
import nsnet  # noqa: E402

wait = nsnet.wait_until

dc, swan = ikd.dc, ikd.swan
BUILD = ikd.BUILD
ESPCTL = ikd.ESPCTL
RW, NAT, GW, LAN = "eikx-rw", "eikx-nat", "eikx-gw", "eikx-lan"
PREFIX = "eikx-dp"
PSK = ikd.PSK
results = []


def result(ok, name, why=""):
    results.append(bool(ok))
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


sh = ikd.sh


def cleanup():
    for ns in (RW, NAT, GW, LAN):
        sh(f"ip netns pids {ns} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {ns}", check=False)


def setup_net():
    """ike_dp_strongswan.py's topology under the eikx- prefix."""
    cleanup()
    for ns in (RW, NAT, GW, LAN):
        sh(f"ip netns add {ns}")
        sh(f"ip -n {ns} link set lo up")
    sh(f"ip link add eikx-r0 netns {RW} type veth peer name eikx-n0 netns {NAT}")
    sh(f"ip link add eikx-n1 netns {NAT} type veth peer name eikx-go netns {GW}")
    sh(f"ip link add eikx-l0 netns {LAN} type veth peer name eikx-gi netns {GW}")
    sh(f"ip -n {RW} addr add 10.66.1.2/24 dev eikx-r0")
    sh(f"ip -n {RW} link set eikx-r0 up")
    sh(f"ip -n {RW} route add default via 10.66.1.1")
    sh(f"ip -n {NAT} addr add 10.66.1.1/24 dev eikx-n0")
    sh(f"ip -n {NAT} addr add 192.0.2.2/24 dev eikx-n1")
    for d in ("eikx-n0", "eikx-n1"):
        sh(f"ip -n {NAT} link set {d} up")
    sh(f"ip netns exec {NAT} sysctl -qw net.ipv4.ip_forward=1")
    sh(f"ip netns exec {NAT} iptables -t nat -A POSTROUTING -o eikx-n1 -j MASQUERADE")
    for d in ("eikx-go", "eikx-gi"):
        sh(f"ip netns exec {GW} sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
        sh(f"ip -n {GW} link set {d} up")
    sh(f"ip -n {LAN} addr add 10.78.0.2/24 dev eikx-l0")
    sh(f"ip -n {LAN} link set eikx-l0 up")
    sh(f"ip -n {LAN} route add default via 10.78.0.1")
    for ns, dev in ((NAT, "eikx-n1"), (LAN, "eikx-l0")):
        subprocess.run(["ip", "netns", "exec", ns, ikd.PY, "-c", ikd.e2e.TX_CSUM_OFF, dev], check=True,
                       capture_output=True)


def swanctl_conf(rwdir):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = 192.0.2.1
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    dpd_delay = 2s
    local {{
      auth = psk
      id = rw@example.com
    }}
    remote {{
      auth = psk
      id = gw.example.com
    }}
    children {{
      net {{
        remote_ts = 10.78.0.0/24
        esp_proposals = aes128gcm16
        dpd_action = restart
        close_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-gw {{
    id-a = rw@example.com
    id-b = gw.example.com
    secret = "{PSK}"
  }}
}}
""")
    return path


def swanctl(rwdir, args, timeout=20):
    return swan.swanctl(RW, rwdir, args, timeout)


def espctl(ike_sock, *args, user=None):
    cmd = [ESPCTL, "--ike-socket", ike_sock, *args]
    if user:
        cmd = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=15)


def espctl_json(ike_sock, *args):
    p = espctl(ike_sock, "--json", *args)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {"raw": p.stdout + p.stderr}


def rw_state(rwdir):
    ls = swanctl(rwdir, "--list-sas").stdout
    m_vip = re.search(r"local\s+'rw@example.com' @ (\S+) \[([0-9.]+)\]", ls)
    up = "ESTABLISHED" in ls and "INSTALLED" in ls and m_vip
    return (m_vip.group(2) if up else None), ls


def main():
    if os.geteuid() != 0:
        result(False, "ike_ctl_setup", "needs root")
        sys.exit(1)
    for b in (ikd.IKE_BIN, ikd.DP_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_ctl_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="eikx-")
    os.chmod(tmp, 0o755)  # so that `nobody` reaches the socket file and its mode decides
    procs = ikd.Procs()
    ping_proc = None
    try:
        setup_net()
        dp_conf = ikd.DP_CONFIG.replace("eikd-", "eikx-")
        with open(os.path.join(tmp, "dp.toml"), "w") as f:
            f.write(dp_conf)
        ike_conf = os.path.join(tmp, "ike.toml")
        good = ikd.IKE_CONFIG.replace("[ike]\n", f"[ike]\nlease_file = \"{tmp}/leases\"\nrestart_grace = 4\n")
        with open(ike_conf, "w") as f:
            f.write(good)
        sock = os.path.join(tmp, "dp.sock")
        ike_sock = os.path.join(tmp, "ike.sock")
        dp_log = os.path.join(tmp, "dp.log")
        dp = procs.start(["ip", "netns", "exec", GW, ikd.DP_BIN, "--config", os.path.join(tmp, "dp.toml"),
                          "--file-prefix", PREFIX, "--stats-socket", sock], dp_log)
        if not dc.wait_for(dp_log, "ready:", dp, 30):
            result(False, "espgw_dp_start", open(dp_log).read()[-600:])
            return
        ike_cmd = ["ip", "netns", "exec", GW, ikd.IKE_BIN, "-c", ike_conf, "--dataplane", PREFIX,
                   "--control-socket", ike_sock]
        ike_log = os.path.join(tmp, "ike.log")
        ike = procs.start(ike_cmd, ike_log)
        if not dc.wait_for(ike_log, "control socket", ike, 20):
            result(False, "espgw_ike_start_with_control_socket", open(ike_log).read()[-600:])
            return
        st = os.stat(ike_sock)
        result((st.st_mode & 0o777) == 0o660, "control_socket_mode_0660", oct(st.st_mode & 0o777))
        p = espctl(ike_sock, "conn", "list", user="nobody")
        result(p.returncode != 0 and "ermission" in p.stderr, "control_socket_refuses_nobody",
               f"rc {p.returncode}: {(p.stdout + p.stderr).strip()[:200]}")
        rc, conns = espctl_json(ike_sock, "conn", "list")
        result(rc == 0 and isinstance(conns, list) and conns and conns[0]["name"] == "rw" and
               conns[0]["remote_id"] == "rw@example.com" and PSK not in json.dumps(conns),
               "espctl_conn_list_json", str(conns)[:300])
        p = espctl(ike_sock, "conn", "list")
        result(p.returncode == 0 and "rw@example.com" in p.stdout and "NAME" in p.stdout, "espctl_conn_list_human",
               (p.stdout + p.stderr)[:300])

        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=2,
                                                                        retransmit_timeout=1.0))
        procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, "strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        r = swanctl(rwdir, f"--load-all --noprompt --file {swanctl_conf(rwdir)}")
        r = swanctl(rwdir, "--initiate --child net --timeout 15", timeout=25)
        vip, ls = rw_state(rwdir)
        result(vip is not None, "road_warrior_established", ls[-300:] + r.stderr[-200:])
        if not vip:
            return
        rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
        ok = (rc == 0 and isinstance(sas, list) and len(sas) == 1 and sas[0]["identity"] == "rw@example.com" and
              sas[0]["virtual_ip"] == vip and sas[0]["state"] == "established" and sas[0]["children"])
        result(ok, "espctl_ike_sa_list_json_shows_road_warrior", str(sas)[:400])
        time.sleep(0.3)
        ok_ping, last = ikd.ping(RW, "10.78.0.2", src=vip)
        rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
        ch = sas[0]["children"][0] if ok and sas and sas[0].get("children") else {}
        result(ok_ping and (ch.get("in") or {}).get("packets", 0) >= 3, "ike_sa_list_dataplane_counters",
               f"{last} / {ch}")
        p = espctl(ike_sock, "ike", "sa", "list")
        result(p.returncode == 0 and vip in p.stdout, "espctl_ike_sa_list_human", (p.stdout + p.stderr)[:300])
        rc, pools = espctl_json(ike_sock, "pool", "list")
        result(rc == 0 and any(l["address"] == vip and l["identity"] == "rw@example.com" for l in pools),
               "espctl_pool_list", str(pools)[:300])
        rc, users = espctl_json(ike_sock, "show", "users")
        result(rc == 0 and len(users) == 1 and users[0]["virtual_ip"] == vip and users[0]["nat"] is True and
               users[0]["outer"].startswith("192.0.2.2["), "espctl_show_users_behind_nat", str(users)[:300])
        rc, cnt = espctl_json(ike_sock, "show", "ike", "counters")
        result(rc == 0 and cnt.get("ike_sas") == 1, "espctl_show_ike_counters", str(cnt)[:300])

        # reload: broken refused, nothing changes; good applied.
        with open(ike_conf, "w") as f:
            f.write(good + "\n[[connections]]\nname = \"broken\"\n")
        p = espctl(ike_sock, "reload")
        rc, conns = espctl_json(ike_sock, "conn", "list")
        result(p.returncode == 1 and "refused" in p.stderr and [c["name"] for c in conns] == ["rw"],
               "reload_broken_config_refused", f"rc {p.returncode} {p.stderr.strip()[:200]} / {conns}")
        with open(ike_conf, "w") as f:
            f.write(good + good[good.index("[[connections]]"):].replace('name = "rw"', 'name = "rw-extra"')
                    .replace('remote_id = "rw@example.com"', 'remote_id = "other@example.com"'))
        p = espctl(ike_sock, "reload")
        rc, conns = espctl_json(ike_sock, "conn", "list")
        result(p.returncode == 0 and [c["name"] for c in conns] == ["rw", "rw-extra"], "reload_good_config_applied",
               f"rc {p.returncode} {(p.stdout + p.stderr).strip()[:200]} / {conns}")
        rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
        result(rc == 0 and len(sas) == 1 and sas[0]["connection"] == "rw", "reload_keeps_existing_ike_sa", str(sas)[:300])

        # ike sa delete: strongSwan sees the Delete.
        p = espctl(ike_sock, "ike", "sa", "delete", sas[0]["ike_spi"])
        gone = wait(lambda: "ESTABLISHED" not in swanctl(rwdir, "--list-sas").stdout, 8)
        log = open(os.path.join(rwdir, "charon.log")).read()
        result(p.returncode == 0 and gone and "received DELETE for IKE_SA" in log, "espctl_ike_sa_delete_reaches_peer",
               f"rc {p.returncode} {(p.stdout + p.stderr).strip()[:200]}")
        rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
        result(rc == 0 and sas == [], "ike_sa_list_empty_after_delete", str(sas)[:200])

        # kill -9 under a ping flow.
        r = swanctl(rwdir, "--initiate --child net --timeout 15", timeout=25)
        vip2, ls = rw_state(rwdir)
        if not vip2:
            result(False, "reconnect_before_kill", ls[-300:])
            return
        time.sleep(0.3)
        ping_proc = subprocess.Popen(["ip", "netns", "exec", RW, "ping", "-i", "0.1", "-W", "1", "-I", vip2,
                                      "10.78.0.2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        os.kill(ike.pid, signal.SIGKILL)
        ike.wait()
        ok, last = ikd.ping(RW, "10.78.0.2", src=vip2, count=5)
        result(ok, "ping_keeps_working_with_espgw_ike_killed", last)
        ike = procs.start(ike_cmd, ike_log + ".2")
        if not dc.wait_for(ike_log + ".2", "control socket", ike, 20):
            result(False, "espgw_ike_restart", open(ike_log + ".2").read()[-600:])
            return
        restored = "1 lease(s) restored" in open(ike_log + ".2").read()
        result(restored, "lease_file_restored_on_restart", open(ike_log + ".2").read()[-400:])

        def reestablished():
            rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
            return sas if rc == 0 and isinstance(sas, list) and sas and sas[0]["state"] == "established" else None
        # The leftover SAs forward for restart_grace (4 s), then are removed; strongSwan's
        # DPD (2 s, 2 retransmits) finds the IKE SA gone and restarts it by itself.
        sas = wait(reestablished, 40, 0.5)
        result(bool(sas) and sas[0]["virtual_ip"] == vip2, "strongswan_reestablishes_with_same_virtual_ip",
               f"before {vip2}, after {sas}")
        time.sleep(1.0)
        ok, last = ikd.ping(RW, "10.78.0.2", src=vip2, count=3)
        result(ok, "ping_after_reestablish", last)
        ping_proc.send_signal(signal.SIGINT)
        out = ping_proc.communicate(timeout=5)[0]
        ping_proc = None
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        print(f"continuous ping across the restart: {m.group(0) if m else out[-200:]}", flush=True)
        result(dp.poll() is None and ike.poll() is None, "daemons_alive_at_end",
               f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_ctl_testbed", repr(e))
    finally:
        if ping_proc:
            ping_proc.kill()
        procs.stop_all()
        if not os.environ.get("EIKX_KEEP"):
            cleanup()
        print(f"logs: {tmp}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The whole appliance against a real strongSwan road warrior behind a NAT.

    eikd-rw                  eikd-nat                 eikd-gw                           eikd-lan
    charon (kernel-libipsec) 10.66.1.1 | 192.0.2.2    espgw-dp (net_af_packet)          10.78.0.2
    10.66.1.2  eikd-r0 ===== eikd-n0     eikd-n1 ==== eikd-go (outside)  (inside) eikd-gi ==== eikd-l0
    virtual IP from the pool     MASQUERADE           192.0.2.1          10.78.0.1
                                                      espgw-ike --dataplane (DPDK secondary)

espgw-ike has no socket of its own: IKE reaches it through espgw-dp's punt ring and
leaves through the inject ring (from 192.0.2.1:500, then :4500 with the non-ESP
marker after NAT detection), and it installs the negotiated CHILD_SA pair and its
protect policy in espgw-dp's shared tables. strongSwan's userspace ESP (always
UDP-encapsulated) then carries ping and TCP between its virtual IP and the lan host
through espgw-dp. Cases: IKE through punt/inject, the NAT seen (UDP-4500 to the
NAT's port), ping both ways, a TCP echo byte-exact, the lan host sees the virtual
IP, per-SA counters on the negotiated SPIs, terminate removes the pair from the
dataplane, a second connection works.

Prints TESTCASE lines; exits 1 if any failed. A charon, espgw-dp or espgw-ike that
fails to start is a FAIL.
"""
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
DP_BIN = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
sys.path.insert(0, os.path.join(ROOT, "test", "dp"))
import appliance  # noqa: E402  (the namespaces of DESIGN.md's topology, espgw-dp's config)
import demo_common as dc  # noqa: E402  (stats-socket query, wait_for, echo server, TCP client)
import swan  # noqa: E402
e2e = dc.e2e

TOPO = appliance.Topology("eikd")
RW, NAT, GW, LAN = TOPO.rw, TOPO.natns, TOPO.gw, TOPO.lan
PSK = "eikd-dataplane-secret-0123456789"
POOL = "10.99.8.0/24"
PREFIX = "eikd-dp"
PY = "/usr/bin/python3"
ESPCTL = os.path.join(BUILD, "control", "espctl")
DEMO = "--demo" in sys.argv   # scripts/demo: also show swanctl's and espctl's view
results = []
# One UDP datagram on the lan host: print its source address and exit.
SRC_PROBE = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
             "s.bind(('10.78.0.2', 5003)); s.settimeout(4); print(s.recvfrom(100)[1][0], flush=True)")


def result(ok, name, why=""):
    results.append(ok)
    print(f"TESTCASE {'PASS' if ok else 'FAIL'} {name}" + ("" if ok else f": {why}"), flush=True)


def sh(cmd, check=True, timeout=30):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True, timeout=timeout)


cleanup, setup_net = TOPO.cleanup, TOPO.setup
DP_CONFIG = TOPO.dp_config()


IKE_CONFIG = f"""
[ike]
listen = "192.0.2.1"
dpd_delay = 0

[pools.rw]
cidr = "{POOL}"
dns = ["10.78.0.53"]

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"]
esp_proposals = ["aes128gcm16", "aes128-sha256"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
"""


def swanctl_conf(rwdir, ike, esp):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = 192.0.2.1
    vips = 0.0.0.0
    proposals = {ike}
    mobike = no
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
        esp_proposals = {esp}
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


def ping(ns, dst, src=None, count=3):
    extra = f"-I {src}" if src else ""
    p = sh(f"ip netns exec {ns} ping -c {count} -i 0.2 -W 2 {extra} {dst}", check=False, timeout=20)
    last = (p.stdout + p.stderr).strip().splitlines()[-1:] or [""]
    return p.returncode == 0, last[0]


class Procs(list):
    def start(self, cmd, log):
        p = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in reversed(self):
            self.stop(p)


def connect_case(tag, rwdir, sock, ike, esp, tmp):
    """One connection: establish, traffic, counters. Returns (their in, their out) or None."""
    r = swanctl(rwdir, f"--load-all --noprompt --file {swanctl_conf(rwdir, ike, esp)}")
    if r.returncode != 0:
        result(False, f"{tag}.ike_established_through_dataplane", f"swanctl --load-all: {r.stderr.strip()[:200]}")
        return None
    r = swanctl(rwdir, "--initiate --child net --timeout 15", timeout=25)
    ls = swanctl(rwdir, "--list-sas").stdout
    m_vip = re.search(r"local\s+'rw@example.com' @ (\S+) \[([0-9.]+)\]", ls)
    m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
    m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
    ok = r.returncode == 0 and "ESTABLISHED" in ls and "INSTALLED" in ls and m_vip and m_in and m_out
    result(bool(ok), f"{tag}.ike_established_through_dataplane",
           " | ".join((r.stdout + r.stderr).strip().splitlines()[-3:]) + " / " + ls[-300:])
    if not ok:
        return None
    vip = m_vip.group(2)
    result(vip.startswith("10.99.8."), f"{tag}.virtual_ip_from_pool", vip)
    # NAT: strongSwan's real NAT shows as "local host is behind NAT"; its port moved to 4500.
    log = open(os.path.join(rwdir, "charon.log")).read()
    result("local host is behind NAT" in log and "192.0.2.1[4500]" in ls, f"{tag}.nat_detected_udp4500",
           ls[-300:])
    spi_in, spi_out = m_in.group(1), m_out.group(1)   # strongSwan's view
    sas = {f"{s['spi']:08x}": s for s in dc.query(sock, "stats")["sa"]}
    result(spi_out in sas and spi_in in sas and sas[spi_out]["direction"] == "in" and
           sas[spi_in]["direction"] == "out", f"{tag}.child_sa_pair_in_dataplane_tables",
           f"strongSwan in/out {spi_in}/{spi_out}, dataplane SAs {sorted(sas)}")
    time.sleep(0.3)  # espgw-dp's control thread publishes the SPD within 100 ms
    ok, last = ping(RW, "10.78.0.2", src=vip)
    result(ok, f"{tag}.ping_rw_virtual_ip_to_lan", last)
    ok, last = ping(LAN, vip)
    result(ok, f"{tag}.ping_lan_to_rw_virtual_ip", last)
    # The lan host must see the virtual IP itself as the source (tunnel mode, no NAT on the inside).
    srv = subprocess.Popen(["ip", "netns", "exec", LAN, PY, "-c", SRC_PROBE], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    subprocess.run(["ip", "netns", "exec", RW, PY, "-c",
                    f"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('{vip}', 0)); "
                    "[s.sendto(b'eikd', ('10.78.0.2', 5003)) for _ in range(3)]"], timeout=10)
    try:
        seen = srv.communicate(timeout=5)[0].strip()
    except subprocess.TimeoutExpired:
        srv.kill()
        seen = "nothing received"
    result(seen == vip, f"{tag}.lan_host_sees_virtual_ip_as_source", f"lan saw {seen!r}, virtual IP {vip}")
    p = subprocess.run(["ip", "netns", "exec", RW, PY, "-c", e2e.TCP_CLIENT, "10.78.0.2", "1000000"],
                       capture_output=True, text=True, timeout=90)
    result(p.stdout.strip() == "ok", f"{tag}.tcp_echo_1MB_byte_exact", (p.stdout + p.stderr).strip()[-200:])
    st = dc.query(sock, "stats")
    sa_list = st["sa"]
    by = {f"{s['spi']:08x}": s for s in sa_list}
    pin, pout = by.get(spi_out, {}).get("packets", 0), by.get(spi_in, {}).get("packets", 0)
    result(pin > 700 and pout > 700, f"{tag}.per_sa_counters_on_negotiated_spis",
           f"in {spi_out}: {pin} packets, out {spi_in}: {pout} packets")
    bad = {k: v for k, v in st["drops"].items() if v and k in ("esp_icv_mismatch", "esp_replay_duplicate", "no_sa")}
    result(not bad, f"{tag}.no_icv_replay_or_no_sa_drops", str(bad))
    if DEMO:
        print(f"\n  [{tag}] strongSwan road warrior (swanctl --list-sas):", flush=True)
        print("\n".join("    " + l for l in swanctl(rwdir, "--list-sas").stdout.strip().splitlines()), flush=True)
        for cmd in (["show", "sa"], ["show", "policies"], ["show", "counters"]):
            out = subprocess.run([ESPCTL, "--socket", sock] + cmd, capture_output=True, text=True).stdout
            print(f"\n  [{tag}] espctl {' '.join(cmd)}:", flush=True)
            print("\n".join("    " + l for l in out.strip().splitlines()), flush=True)
        print(flush=True)
    return spi_in, spi_out, vip


def restart_case(procs, dp, ike, rwdir, sock, tmp, pair):
    """kill -9 espgw-dp under a live tunnel and start it again: espgw-ike's dataplane
    agent re-attaches and every live CHILD_SA is re-installed; the road warrior's
    traffic flows again on the same SPIs, without a new IKE or CHILD SA."""
    spi_in, spi_out, vip = pair
    before = swanctl(rwdir, "--list-sas").stdout
    ike_spis = re.search(r"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", before)
    os.killpg(dp.pid, signal.SIGKILL)
    dp.wait()
    time.sleep(1.0)  # the agent notices within 200 ms and lets go of the old memory
    dp_log = os.path.join(tmp, "dp-restarted.log")
    # The new espgw-dp drops root once it is up (--user): the agent (root) still
    # attaches to it, and the tunnel runs through an unprivileged dataplane.
    dp = procs.start(["ip", "netns", "exec", GW, DP_BIN, "--config", os.path.join(tmp, "dp.toml"),
                      "--file-prefix", PREFIX, "--stats-socket", sock, "--user", "nobody:nogroup"], dp_log)
    if not dc.wait_for(dp_log, "ready:", dp, 30):
        result(False, "dp_restart_reinstalls_child_sa", "espgw-dp did not restart: " + open(dp_log).read()[-300:])
        return dp
    status = open(f"/proc/{dp.pid}/status").read()
    ids = {k: v.split() for k, v in re.findall(r"^(Uid|Gid|CapEff|CapPrm|CapInh|NoNewPrivs):\s+(.*)$", status, re.M)}
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    result(ids.get("Uid") == [nobody] * 4 and all(int(ids.get(c, ["1"])[0], 16) == 0
                                                  for c in ("CapEff", "CapPrm", "CapInh")),
           "dp_runs_unprivileged", f"{ids}; log: {open(dp_log).read()[-200:]}")
    ike_log = os.path.join(tmp, "ike.log")
    ok = dc.wait_for(ike_log, "re-installed 1 CHILD_SA pair", ike, 20)
    sas = {f"{s['spi']:08x}": s for s in dc.query(sock, "stats")["sa"]}
    result(ok and spi_in in sas and spi_out in sas, "dp_restart_reinstalls_child_sa",
           f"dataplane SAs {sorted(sas)}; ike log: {open(ike_log).read()[-400:]}")
    time.sleep(0.3)  # the SPD is published within 100 ms
    ok, last = ping(RW, "10.78.0.2", src=vip)
    result(ok, "dp_restart_traffic_resumes", last)
    after = swanctl(rwdir, "--list-sas").stdout
    same = (ike_spis and ike_spis.group(1) in after and ike_spis.group(2) in after and
            re.search(rf"^\s+in\s+{spi_in}", after, re.M) and re.search(rf"^\s+out\s+{spi_out}", after, re.M))
    result(bool(same) and ike.poll() is None, "dp_restart_without_renegotiation",
           f"before {before[-250:]} / after {after[-250:]}")
    return dp


def main():
    if os.geteuid() != 0:
        result(False, "ike_dp_setup", "needs root")
        sys.exit(1)
    for b in (IKE_BIN, DP_BIN):
        if not os.access(b, os.X_OK):
            result(False, "ike_dp_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="eikd-")
    procs = Procs()
    try:
        setup_net()
        with open(os.path.join(tmp, "dp.toml"), "w") as f:
            f.write(DP_CONFIG)
        with open(os.path.join(tmp, "ike.toml"), "w") as f:
            f.write(IKE_CONFIG)
        sock = os.path.join(tmp, "dp.sock")
        dp_log = os.path.join(tmp, "dp.log")
        dp = procs.start(["ip", "netns", "exec", GW, DP_BIN, "--config", os.path.join(tmp, "dp.toml"),
                          "--file-prefix", PREFIX, "--stats-socket", sock], dp_log)
        if not dc.wait_for(dp_log, "ready:", dp, 30):
            result(False, "espgw_dp_start", open(dp_log).read()[-600:])
            return
        ike_log = os.path.join(tmp, "ike.log")
        ike = procs.start(["ip", "netns", "exec", GW, IKE_BIN, "-c", os.path.join(tmp, "ike.toml"),
                           "--dataplane", PREFIX], ike_log)
        if not dc.wait_for(ike_log, "attached to espgw-dp", ike, 20):
            result(False, "espgw_ike_attach_as_secondary", open(ike_log).read()[-600:])
            return
        result(True, "espgw_ike_attach_as_secondary")
        procs.start(["ip", "netns", "exec", LAN, PY, "-c", e2e.ECHO_SERVER, "10.78.0.2"],
                    os.path.join(tmp, "echo.log"))
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=3))
        procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, "strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        time.sleep(0.2)
        first = connect_case("gcm128", rwdir, sock, "aes256gcm16-prfsha256-ecp256", "aes128gcm16", tmp)
        if first:
            swanctl(rwdir, "--terminate --ike gw --timeout 5")
            gone = False
            for _ in range(30):
                spis = {f"{s['spi']:08x}" for s in dc.query(sock, "stats")["sa"]}
                if first[0] not in spis and first[1] not in spis:
                    gone = True
                    break
                time.sleep(0.1)
            result(gone, "terminate_removes_pair_from_dataplane", f"dataplane SPIs {sorted(spis)}")
        second = connect_case("cbc_sha256", rwdir, sock, "aes128-sha256-modp2048", "aes128-sha256", tmp)
        if second:
            dp = restart_case(procs, dp, ike, rwdir, sock, tmp, second)
        st = dc.query(sock, "stats")
        print(f"espgw-dp path counters: {json.dumps(st['path'])}", flush=True)
        result(dp.poll() is None and ike.poll() is None, "daemons_alive_at_end",
               f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_dp_testbed", repr(e))
    finally:
        procs.stop_all()
        if not os.environ.get("EIKD_KEEP"):
            cleanup()
        print(f"logs: {tmp}", flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()

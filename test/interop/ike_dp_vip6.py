#!/usr/bin/python3
"""IPv6 virtual IPs and per-group pools (issues 4 and 6) with a real strongSwan road
warrior behind a NAT and espgw-dp forwarding.

    v6p-rw                   v6p-nat                  v6p-gw                             v6p-lan
    charon (kernel-libipsec) 10.66.1.1 | 192.0.2.2    espgw-dp (net_af_packet)           10.78.0.2
    10.66.1.2  v6p-r0 ====== v6p-n0      v6p-n1 ===== v6p-go (outside)  (inside) v6p-gi === fd00:78::2
    vips 0.0.0.0 and ::      MASQUERADE               192.0.2.1          10.78.0.1          v6p-l0
                                                      espgw-ike --dataplane  fd00:78::1/64

The road warrior asks for both families (`vips = 0.0.0.0, ::`) and tunnels
10.78.0.0/24 and fd00:78::/64 through one IPv4 tunnel (UDP 4500 through the NAT).
espgw-ike answers INTERNAL_IP4_ADDRESS from pool rw and INTERNAL_IP6_ADDRESS from pool
rw6 with the DNS servers of each, narrows TSi to the two addresses and installs an IPv4
and an IPv6 protect policy in espgw-dp; espgw-dp carries IPv6 in the IPv4 ESP tunnel
both ways and resolves the lan host's IPv6 address with neighbor discovery.

Cases: both virtual IPs from the right pools; DNS of both families; ping from each
virtual IP to the lan host's IPv4 and IPv6 address and back from the lan host; the lan
host sees the virtual IPv6 address as the source; an IPv6 protect policy in espgw-dp;
`espctl show users` (text and JSON) and `pool list` show both addresses; a reconnect
keeps both leases. Then two EAP-MSCHAPv2 users of the local user database in different
groups (staff, guests) connect in turn: the staff user gets addresses from the staff
pools (groups = ["staff"]), the guest from the general pools; the staff user pings the
lan host over IPv6.

Prints TESTCASE lines; exits 1 if any failed. A charon, espgw-dp or espgw-ike that
fails to start is a FAIL.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import appliance
import nsnet
import swan

dc = appliance.dc
IKE_BIN, DP_BIN, ESPCTL, PY = appliance.IKE_BIN, appliance.DP_BIN, appliance.ESPCTL, appliance.PY
TOPO = appliance.Topology("v6p", lan6=True)
RW, LAN = TOPO.rw, TOPO.lan
PSK = "v6p-dual-stack-secret-0123456789"
LAN4, LAN6 = appliance.LAN_HOST, appliance.LAN_HOST6
PW = {"sam": "Sam-staff-pw-41x", "gus": "Gus-guest-pw-93q"}
result = nsnet.Results()
sh = nsnet.sh


def make_pki(d):
    """A test CA and the gateway's certificate (gw.example.com), made with strongSwan's pki."""
    def pki(args, out):
        sh(f"pki {args} > {d}/{out} 2>/dev/null")
    pki("--gen --type ecdsa --size 256 --outform pem", "ca.key")
    pki(f"--self --ca --in {d}/ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem", "ca.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "gw.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/gw.key "
        f"--dn 'C=DE, O=Example, CN=gw.example.com' --san gw.example.com --outform pem", "gw.pem")


def ike_config(d):
    return f"""
[ike]
listen = "192.0.2.1"
dpd_delay = 0
users_file = "{d}/users.toml"
users_key_file = "{d}/users.key"

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "10.99.8.0/24"
dns = ["10.78.0.53"]

[pools.rw6]
cidr = "fd00:99::/112"
dns = ["fd00:78::53"]

[pools.staff]
cidr = "10.97.0.0/24"
groups = ["staff"]

[pools.staff6]
cidr = "fd00:97::100-fd00:97::1ff"
groups = ["staff"]

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24", "fd00:78::/64"]
pool = ["rw", "rw6"]

[[connections]]
name = "rw-eap"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_auth = "eap-mschapv2"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24", "fd00:78::/64"]
pools = ["staff", "staff6", "rw", "rw6"]
"""


def swanctl_conf(rwdir, d, user=None):
    if user:
        local = f"""local {{
      auth = eap-mschapv2
      id = {user}
      eap_id = {user}
    }}
    remote {{
      auth = pubkey
      id = gw.example.com
      cacerts = {d}/ca.pem
    }}"""
        secrets = f"""eap-user {{
    id = {user}
    secret = "{PW[user]}"
  }}"""
    else:
        local = """local {
      auth = psk
      id = rw@example.com
    }
    remote {
      auth = psk
      id = gw.example.com
    }"""
        secrets = f"""ike-gw {{
    id-a = rw@example.com
    id-b = gw.example.com
    secret = "{PSK}"
  }}"""
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = 192.0.2.1
    vips = 0.0.0.0, ::
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    {local}
    children {{
      net {{
        remote_ts = 10.78.0.0/24, fd00:78::/64
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  {secrets}
}}
""")
    return path


def ping(ns, dst, src=None, count=3):
    fam = "-6" if ":" in dst else "-4"
    extra = f"-I {src}" if src else ""
    p = sh(f"ip netns exec {ns} ping {fam} -c {count} -i 0.2 -W 2 {extra} {dst}", check=False, timeout=20)
    return p.returncode == 0, ((p.stdout + p.stderr).strip().splitlines()[-1:] or [""])[0]


def connect(rwdir, d, tag, user=None):
    """Loads and initiates; returns (vip4, vip6, list-sas text) or None after a FAIL."""
    swan.swanctl(RW, rwdir, "--terminate --ike gw --timeout 5")
    r = swan.swanctl(RW, rwdir, f"--load-all --noprompt --file {swanctl_conf(rwdir, d, user)}")
    if r.returncode != 0:
        result(False, f"{tag}.tunnel_up", f"swanctl --load-all: {(r.stdout + r.stderr).strip()[-300:]}")
        return None
    r = swan.swanctl(RW, rwdir, "--initiate --child net --timeout 15", timeout=25)
    ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
    m = re.search(r"local\s+'[^']*' @ \S+ \[([0-9a-f.: ]+)\]", ls)
    vips = m.group(1).split() if m else []
    v4 = next((v for v in vips if "." in v), None)
    v6 = next((v for v in vips if ":" in v), None)
    ok = r.returncode == 0 and "INSTALLED" in ls and v4 and v6
    result(bool(ok), f"{tag}.tunnel_up_with_ipv4_and_ipv6_virtual_ip",
           " | ".join((r.stdout + r.stderr).strip().splitlines()[-3:]) + " / " + ls[-400:])
    return (v4, v6, ls) if ok else None


def psk_cases(rwdir, d, sock, ike_sock, tmp):
    got = connect(rwdir, d, "psk")
    if not got:
        return
    v4, v6, ls = got
    result(v4.startswith("10.99.8.") and v6.startswith("fd00:99::"), "psk.virtual_ips_from_rw_and_rw6",
           f"{v4} {v6}")
    log = open(os.path.join(rwdir, "charon.log")).read()
    # charon runs without its resolve plugin (it would rewrite the host's resolv.conf), so
    # it reads the DNS attributes of both families but installs neither.
    result("CPRP(ADDR ADDR6 DNS DNS6)" in log and "processing INTERNAL_IP6_DNS attribute" in log,
           "psk.dns_servers_of_both_families", "\n".join(l for l in log.splitlines() if "DNS" in l)[-300:])
    # §2.9: both virtual addresses in TSi (strongSwan's local TS), both subnets in TSr.
    local_ts = re.search(r"local\s+(\S+/\d+)(?: (\S+/\d+))?\s*$", ls, re.M)
    result(bool(re.search(rf"local\s+{re.escape(v4)}/32 {re.escape(v6)}/128", ls)) and
           "fd00:78::/64" in ls, "psk.ts_narrowed_to_both_virtual_ips", (local_ts.group(0) if local_ts else "") + ls[-300:])
    time.sleep(0.3)  # espgw-dp publishes the SPD within 100 ms
    pol = dc.query(sock, "show policies")
    entries = pol if isinstance(pol, list) else pol.get("policies", [])
    v6pol = [p for p in entries if p.get("family") == 6 and p.get("dst", "").startswith(v6)]
    result(bool(v6pol), "psk.ipv6_protect_policy_in_dataplane", json.dumps(entries)[:400])
    for dst, src, name in ((LAN4, v4, "ping_ipv4_lan_host"), (LAN6, v6, "ping_ipv6_lan_host")):
        ok, last = ping(RW, dst, src)
        result(ok, f"psk.{name}_through_espgw_dp", last)
    ok, last = ping(LAN, v6)
    result(ok, "psk.ping_lan_host_to_virtual_ipv6", last)
    ok, last = ping(LAN, v4)
    result(ok, "psk.ping_lan_host_to_virtual_ipv4", last)
    # The lan host sees the virtual IPv6 address itself (tunnel mode, no translation).
    probe = ("import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); "
             f"s.bind(('{LAN6}', 5003)); s.settimeout(4); print(s.recvfrom(100)[1][0], flush=True)")
    srv = subprocess.Popen(["ip", "netns", "exec", LAN, PY, "-c", probe], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    subprocess.run(["ip", "netns", "exec", RW, PY, "-c",
                    f"import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('{v6}', 0)); "
                    f"[s.sendto(b'v6p', ('{LAN6}', 5003)) for _ in range(3)]"], timeout=10)
    try:
        seen = srv.communicate(timeout=5)[0].strip()
    except subprocess.TimeoutExpired:
        srv.kill()
        seen = "nothing received"
    result(seen == v6, "psk.lan_host_sees_virtual_ipv6_as_source", f"lan saw {seen!r}, virtual IP {v6}")
    st = dc.query(sock, "stats")
    bad = {k: v for k, v in st["drops"].items() if v and k in ("esp_icv_mismatch", "esp_replay_duplicate", "no_sa",
                                                                  "policy_mismatch")}
    result(not bad, "psk.no_icv_replay_policy_drops", str(bad))
    # espctl: both addresses per user, as text and JSON; the leases of both pools.
    users = subprocess.run([ESPCTL, "--ike-socket", ike_sock, "--json", "show", "users"], capture_output=True,
                           text=True, timeout=10)
    text = subprocess.run([ESPCTL, "--ike-socket", ike_sock, "show", "users"], capture_output=True, text=True,
                          timeout=10)
    try:
        u = [x for x in json.loads(users.stdout) if x.get("identity") == "rw@example.com"]
    except ValueError:
        u = []
    result(len(u) == 1 and u[0].get("virtual_ip") == v4 and u[0].get("virtual_ip6") == v6 and v6 in text.stdout and
           v4 in text.stdout, "psk.espctl_show_users_both_addresses", users.stdout[:300] + " / " + text.stdout[:300])
    pools = subprocess.run([ESPCTL, "--ike-socket", ike_sock, "--json", "pool", "list"], capture_output=True,
                           text=True, timeout=10)
    try:
        leases = {(x["pool"], x["address"]) for x in json.loads(pools.stdout) if x.get("online")}
    except (ValueError, KeyError):
        leases = set()
    result({("rw", v4), ("rw6", v6)} <= leases, "psk.pool_list_online_leases_both_families", pools.stdout[:300])
    # Reconnect: both leases come back.
    again = connect(rwdir, d, "psk_reconnect")
    result(bool(again) and again[0] == v4 and again[1] == v6, "psk.reconnect_keeps_both_leases",
           f"before {v4} {v6}, after {again[:2] if again else None}")
    swan.swanctl(RW, rwdir, "--terminate --ike gw --timeout 5")


def group_cases(rwdir, d, ike_sock):
    for user, groups in (("sam", "staff"), ("gus", "guests")):
        p = subprocess.run([ESPCTL, "--ike-socket", ike_sock, "user", "add", user, "--groups", groups,
                            "--password-stdin"], input=PW[user] + "\n", capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            result(False, "groups.users_added", f"espctl user add {user}: {(p.stdout + p.stderr).strip()[-200:]}")
            return
    got = {}
    for user in ("sam", "gus"):
        r = connect(rwdir, d, f"groups.{user}", user)
        if r:
            got[user] = r[:2]
            if user == "sam":
                ok, last = ping(RW, LAN6, r[1])
                result(ok, "groups.sam.ping_ipv6_lan_host_from_staff_pool", last)
    swan.swanctl(RW, rwdir, "--terminate --ike gw --timeout 5")
    sam, gus = got.get("sam"), got.get("gus")
    result(bool(sam) and sam[0].startswith("10.97.0.") and sam[1].startswith("fd00:97::1"),
           "groups.staff_user_gets_staff_pools", str(sam))
    result(bool(gus) and gus[0].startswith("10.99.8.") and gus[1].startswith("fd00:99::"),
           "groups.guest_user_gets_general_pools", str(gus))


def main():
    if os.geteuid() != 0:
        result(False, "ike_dp_vip6_setup", "needs root")
        sys.exit(1)
    for b in (IKE_BIN, DP_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_dp_vip6_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="v6p-")
    procs = dc.Procs()
    try:
        TOPO.setup()
        make_pki(tmp)
        daemons = appliance.Daemons(TOPO, tmp, procs)
        why = daemons.start(ike_config(tmp))
        if why:
            result(False, "appliance_start", why)
            return
        dp, ike, sock, ike_sock, ike_log = daemons.dp, daemons.ike, daemons.sock, daemons.ctl, daemons.ike_log
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        if os.path.exists("/usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so"):
            swan.PLUGINS += " eap-identity eap-mschapv2"
        charon = swan.start_charon(RW, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=3))
        procs.procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, "strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        shutil.copy(os.path.join(tmp, "ca.pem"), os.path.join(rwdir, "x509ca", "ca.pem"))
        psk_cases(rwdir, tmp, sock, ike_sock, tmp)
        if "eap-mschapv2" in swan.PLUGINS:
            group_cases(rwdir, tmp, ike_sock)
        else:
            result(False, "groups.eap_plugin", "strongSwan eap-mschapv2 plugin missing (libcharon-extauth-plugins)")
        log = open(ike_log).read()
        result("IPv6 traffic selectors are not installed" not in log and PSK not in log and
               not any(pw in log for pw in PW.values()), "ike_log_clean", log[-300:])
        result(dp.poll() is None and ike.poll() is None, "daemons_alive_at_end",
               f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_dp_vip6_testbed", repr(e))
    finally:
        procs.stop_all()
        if not os.environ.get("V6P_KEEP"):
            TOPO.cleanup()
        print(f"logs: {tmp}", flush=True)
    sys.exit(0 if result.failed == 0 else 1)


if __name__ == "__main__":
    main()

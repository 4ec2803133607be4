#!/usr/bin/python3
"""Two strongSwan road warriors behind one NAT connect to espgw at the same time, with
different proposals and identity types (issue 4).

    ei2c-rwa 10.66.1.2 ──┐ ei2c-nat                ei2c-gw                          ei2c-lan
    ei2c-rwb 10.66.2.2 ──┤ MASQUERADE  192.0.2.2 == espgw-dp outside 192.0.2.1
      charon each,       │ (tcpdump on ei2c-n1)     inside 10.78.0.1 ================ 10.78.0.2
      kernel-libipsec                               espgw-ike --dataplane

  client A: identity FQDN rwa.example.com, PSK, IKE aes256gcm16-prfsha384-x25519,
            ESP aes256gcm16 (AES-GCM-256 with Curve25519)
  client B: identity e-mail rwb@example.com, RSA certificate (SAN rfc822Name), IKE
            aes256-sha256-modp2048, ESP aes128-sha256 (AES-CBC + HMAC-SHA-256 with MODP-2048)

Both are initiated at the same moment. Cases: both ESTABLISHED with distinct virtual IPs
from the pool; `espctl ike sa list` / `show users` list both with their identities,
algorithms, NAT yes and the NAT's address; both ping the lan host through espgw-dp at
the same time (a burst each) and run iperf3 at the same time; the capture on the
NAT's outside shows both tunnels' ESP inside UDP 4500 from two NAT ports, no plain ESP
and no ESP on port 500; the dataplane counts packets on both SA pairs.

Prints TESTCASE lines; exits 1 if any failed. A daemon or charon that fails to start
is a FAIL.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
DP_BIN = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
ESPCTL = os.path.join(BUILD, "control", "espctl")
sys.path.insert(0, os.path.join(ROOT, "test", "dp"))
import demo_common as dc  # noqa: E402
import nsnet  # noqa: E402
import swan  # noqa: E402

NAT, GW, LAN = "ei2c-nat", "ei2c-gw", "ei2c-lan"
PUB, LAN_HOST = "192.0.2.1", "10.78.0.2"
PSK = "ei2c-two-clients-secret-0123456789"
PREFIX = "ei2c-dp"
PY = "/usr/bin/python3"
POOL = "10.99.7.0/24"
# ns: (address, NAT-side gateway, rw veth, NAT veth, identity, IKE proposal, ESP proposal)
CLIENTS = {
    "ei2c-rwa": ("10.66.1.2", "10.66.1.1", "ei2c-ra", "ei2c-na", "rwa.example.com",
                 "aes256gcm16-prfsha384-x25519", "aes256gcm16"),
    "ei2c-rwb": ("10.66.2.2", "10.66.2.1", "ei2c-rb", "ei2c-nb", "rwb@example.com",
                 "aes256-sha256-modp2048", "aes128-sha256"),
}
result = nsnet.Results()


def sh(cmd, ns=None, check=True, timeout=60):
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {(p.stderr or p.stdout).strip()}")
    return p


def cleanup():
    nsnet.cleanup(*CLIENTS, NAT, GW, LAN)


def setup_net():
    cleanup()
    for ns in list(CLIENTS) + [NAT, GW, LAN]:
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns)
    for ns, (addr, gw, dev, peer, *_rest) in CLIENTS.items():
        sh(["ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer, "netns", NAT])
        sh(["ip", "addr", "add", f"{addr}/24", "dev", dev], ns)
        sh(["ip", "link", "set", dev, "up"], ns)
        sh(["ip", "route", "add", "default", "via", gw], ns)
        sh(["ip", "addr", "add", f"{gw}/24", "dev", peer], NAT)
        sh(["ip", "link", "set", peer, "up"], NAT)
    sh(["ip", "link", "add", "ei2c-n1", "netns", NAT, "type", "veth", "peer", "name", "ei2c-go", "netns", GW])
    sh(["ip", "link", "add", "ei2c-l0", "netns", LAN, "type", "veth", "peer", "name", "ei2c-gi", "netns", GW])
    sh(["ip", "addr", "add", "192.0.2.2/24", "dev", "ei2c-n1"], NAT)
    sh(["ip", "link", "set", "ei2c-n1", "up"], NAT)
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"], NAT)
    sh(["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ei2c-n1", "-s", "10.66.0.0/16", "-j", "MASQUERADE"], NAT)
    for d in ("ei2c-go", "ei2c-gi"):
        dc.dp_port_link(GW, d)
    sh(["ip", "addr", "add", f"{LAN_HOST}/24", "dev", "ei2c-l0"], LAN)
    sh(["ip", "link", "set", "ei2c-l0", "up"], LAN)
    sh(["ip", "route", "add", "default", "via", "10.78.0.1"], LAN)
    sh(["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"], LAN)
    # Kernel hosts facing espgw-dp's af_packet ports: fill checksums in (see dp_e2e_scapy).
    for ns, dev in ((NAT, "ei2c-n1"), (LAN, "ei2c-l0")):
        sh([PY, "-c", dc.TX_CSUM_OFF, dev], ns)


DP_CONFIG = """
[dataplane]
workers = 1
idle_backoff = true
hugepages = "on"
memory_mb = 128

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=ei2c-go,framecnt=4096"
addresses = ["192.0.2.1/24"]
mtu = 1500

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface=ei2c-gi,framecnt=4096"
addresses = ["10.78.0.1/24"]
mtu = 1500

[[route]]
prefix = "0.0.0.0/0"
via = "192.0.2.2"
port = "outside"

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"
"""


def ike_config(d):
    return f"""
[ike]
listen = "{PUB}"
dpd_delay = 0

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "{POOL}"

[[connections]]
name = "rwa-gcm-x25519"
local_id = "gw.example.com"
remote_id = "rwa.example.com"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha384-x25519"]
esp_proposals = ["aes256gcm16"]
local_ts = ["10.78.0.0/24"]
pool = "rw"

[[connections]]
name = "rwb-cbc-modp2048"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "rwb@example.com"
ike_proposals = ["aes256-sha256-modp2048"]
esp_proposals = ["aes128-sha256"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
"""


def make_pki(d):
    def pki(args, out):
        sh(["sh", "-c", f"pki {args} > {d}/{out}"])
    pki("--gen --type ecdsa --size 256 --outform pem", "ca.key")
    pki(f"--self --ca --in {d}/ca.key --type ecdsa --dn 'C=DE, O=Example, CN=Example CA' --outform pem", "ca.pem")
    pki("--gen --type ecdsa --size 256 --outform pem", "gw.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/gw.key "
        "--dn 'C=DE, O=Example, CN=gw.example.com' --san gw.example.com --outform pem", "gw.pem")
    pki("--gen --type rsa --size 2048 --outform pem", "rwb.key")
    pki(f"--issue --cacert {d}/ca.pem --cakey {d}/ca.key --type priv --in {d}/rwb.key "
        "--dn 'C=DE, O=Example, CN=rwb' --san rwb@example.com --outform pem", "rwb.pem")


def swanctl_conf(rwdir, d, ident, ike, esp):
    if ident == "rwb@example.com":
        shutil.copy(os.path.join(d, "rwb.key"), os.path.join(rwdir, "rsa", "rwb.key"))
        local = f"auth = pubkey\n      certs = {d}/rwb.pem\n      id = {ident}"
        remote = f"auth = pubkey\n      id = gw.example.com\n      cacerts = {d}/ca.pem"
        secrets = ""
    else:
        local = f"auth = psk\n      id = {ident}"
        remote = "auth = psk\n      id = gw.example.com"
        secrets = f'secrets {{\n  ike-gw {{\n    id-a = {ident}\n    id-b = gw.example.com\n    secret = "{PSK}"\n  }}\n}}\n'
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {PUB}
    vips = 0.0.0.0
    proposals = {ike}
    send_cert = always
    mobike = no
    local {{
      {local}
    }}
    remote {{
      {remote}
    }}
    children {{
      net {{
        remote_ts = 10.78.0.0/24
        esp_proposals = {esp}
      }}
    }}
  }}
}}
{secrets}""")
    return path


def espctl_json(ike_sock, *args):
    p = subprocess.run([ESPCTL, "--ike-socket", ike_sock, "--json", *args], capture_output=True, text=True,
                       timeout=15)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {"raw": (p.stdout + p.stderr)[:300]}


def rw_state(ns, rwdir, ident):
    ls = swan.swanctl(ns, rwdir, "--list-sas").stdout
    m_vip = re.search(rf"local\s+'{re.escape(ident)}' @ \S+ \[([0-9.]+)\]", ls)
    m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
    m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
    up = "ESTABLISHED" in ls and "INSTALLED" in ls and m_vip and m_in and m_out
    if not up:
        return None, ls
    return {"vip": m_vip.group(1), "spi_in": m_in.group(1), "spi_out": m_out.group(1)}, ls


def check_wire(pcap, states):
    """ESP of both tunnels inside UDP 4500 (RFC 3948) on the NAT's outside, none bare
    (IP protocol 50) and none on port 500."""
    from scapy.all import IP, UDP, rdpcap  # noqa: E402
    pkts = [p for p in rdpcap(pcap) if IP in p]
    bare_esp = [p for p in pkts if p[IP].proto == 50]
    esp_4500 = {}   # SPI (hex) -> set of NAT ports
    ike_500 = 0
    for p in pkts:
        if UDP not in p:
            continue
        u = p[UDP]
        data = bytes(u.payload)
        if 500 in (u.sport, u.dport):
            ike_500 += 1
            continue
        if 4500 in (u.sport, u.dport) and len(data) > 8 and data[:4] != b"\0\0\0\0":
            spi = data[:4].hex()
            nat_port = u.sport if p[IP].src == "192.0.2.2" else u.dport
            esp_4500.setdefault(spi, set()).add(nat_port)
    why = []
    ports = set()
    for ns, st in states.items():
        # What the road warrior sends carries espgw's inbound SPI (swanctl's "out"), what
        # espgw sends the road warrior's (swanctl's "in").
        for spi in (st["spi_out"], st["spi_in"]):
            if spi not in esp_4500:
                why.append(f"{ns}: no UDP-4500 ESP with SPI {spi}")
            else:
                ports |= esp_4500[spi]
    if len(ports) != 2:
        why.append(f"expected two NAT ports carrying ESP, saw {sorted(ports)}")
    if bare_esp:
        why.append(f"{len(bare_esp)} bare ESP (protocol 50) packets")
    return not why, "; ".join(why) + f" (ESP SPIs on 4500: { {k: sorted(v) for k, v in esp_4500.items()} }, " \
                                     f"{ike_500} packets on port 500)"


def run(tmp, procs):
    setup_net()
    make_pki(tmp)
    with open(os.path.join(tmp, "dp.toml"), "w") as f:
        f.write(DP_CONFIG)
    with open(os.path.join(tmp, "ike.toml"), "w") as f:
        f.write(ike_config(tmp))
    sock = os.path.join(tmp, "dp.sock")
    ike_sock = os.path.join(tmp, "ike.sock")
    dp_log = os.path.join(tmp, "dp.log")
    dp = procs.start([DP_BIN, "--config", os.path.join(tmp, "dp.toml"), "--file-prefix", PREFIX,
                      "--stats-socket", sock], GW, dp_log)
    if not dc.wait_for(dp_log, "ready:", dp, 30):
        result(False, "espgw_dp_start", open(dp_log).read()[-600:])
        return
    ike_log = os.path.join(tmp, "ike.log")
    ike = procs.start([IKE_BIN, "-c", os.path.join(tmp, "ike.toml"), "--dataplane", PREFIX,
                       "--control-socket", ike_sock], GW, ike_log)
    if not dc.wait_for(ike_log, "attached to espgw-dp", ike, 20):
        result(False, "espgw_ike_attach", open(ike_log).read()[-600:])
        return
    pcap = os.path.join(tmp, "outside.pcap")
    tcpdump = procs.start(["tcpdump", "-i", "ei2c-n1", "-n", "-U", "-s", "128", "-w", pcap, "udp or esp"], NAT,
                          os.path.join(tmp, "tcpdump.log"))
    for port in (5201, 5202):
        procs.start(["iperf3", "-s", "-B", LAN_HOST, "-p", str(port)], LAN, os.path.join(tmp, f"iperf3-{port}.log"))

    rwdirs = {}
    for ns, (_, _, _, _, ident, ike_p, esp_p) in CLIENTS.items():
        rwdir = os.path.join(tmp, ns)
        os.makedirs(rwdir)
        charon = swan.start_charon(ns, rwdir, swan.write_charon_conf(rwdir, retransmit_tries=3))
        procs.procs.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, f"{ns}.strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        r = swan.swanctl(ns, rwdir, f"--load-all --noprompt --file {swanctl_conf(rwdir, tmp, ident, ike_p, esp_p)}")
        if r.returncode != 0:
            result(False, f"{ns}.swanctl_load", (r.stdout + r.stderr).strip()[-300:])
            return
        rwdirs[ns] = rwdir
    time.sleep(0.5)  # tcpdump attached

    # Both at the same moment.
    t0 = time.time()
    inits = {ns: subprocess.Popen(["ip", "netns", "exec", ns, "swanctl", "--initiate", "--uri",
                                   f"unix://{rwdirs[ns]}/charon.vici", "--child", "net", "--timeout", "20"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for ns in CLIENTS}
    outs = {ns: p.communicate(timeout=40)[0] for ns, p in inits.items()}
    took = time.time() - t0
    states = {}
    for ns, (_, _, _, _, ident, *_r) in CLIENTS.items():
        st, ls = rw_state(ns, rwdirs[ns], ident)
        ok = inits[ns].returncode == 0 and st and st["vip"].startswith("10.99.7.")
        result(bool(ok), f"{ns}.established_at_the_same_time_with_virtual_ip",
               " | ".join(outs[ns].strip().splitlines()[-3:]) + " / " + ls[-300:])
        if ok:
            states[ns] = st
    print(f"both initiated at once: {took:.2f} s until both swanctl --initiate returned", flush=True)
    vips = sorted(s["vip"] for s in states.values())
    result(len(states) == 2 and len(set(vips)) == 2, "distinct_virtual_ips", str(vips))
    if len(states) != 2:
        return
    log = open(ike_log).read()
    result("authenticated with certificate" in log and "rwb@example.com" in log and "rwa.example.com" in log,
           "espgw_ike_log_names_both_identities_and_cert_auth", log[-500:])

    # espctl: both users, their algorithms, NAT yes and the NAT's outside address.
    rc, sas = espctl_json(ike_sock, "ike", "sa", "list")
    by_id = {s.get("identity"): s for s in sas} if rc == 0 and isinstance(sas, list) else {}
    a, b = by_id.get("rwa.example.com", {}), by_id.get("rwb@example.com", {})
    a_ch, b_ch = (a.get("children") or [{}])[0], (b.get("children") or [{}])[0]
    ok = (len(by_id) == 2 and a.get("state") == b.get("state") == "established" and
          "aes256gcm16" in a.get("ike", "") and "prfsha384" in a.get("ike", "") and
          ("curve25519" in a.get("ike", "") or "x25519" in a.get("ike", "")) and
          a_ch.get("esp", "").startswith("aes256gcm16") and
          b.get("ike", "").startswith("aes256-sha256") and "modp2048" in b.get("ike", "") and
          b_ch.get("esp", "").startswith("aes128-sha256") and a.get("nat") is True and b.get("nat") is True and
          a_ch.get("udp_encap") is True and b_ch.get("udp_encap") is True and
          a.get("virtual_ip") == states["ei2c-rwa"]["vip"] and b.get("virtual_ip") == states["ei2c-rwb"]["vip"])
    result(ok, "espctl_ike_sa_list_both_with_their_algorithms",
           json.dumps([{k: s.get(k) for k in ("identity", "ike", "nat", "virtual_ip", "children")} for s in sas])[:700]
           if isinstance(sas, list) else str(sas))
    for s in sas if isinstance(sas, list) else []:
        ch = (s.get("children") or [{}])[0]
        print(f"espctl ike sa list: {s.get('identity')}: IKE {s.get('ike')}, ESP {ch.get('esp')}, "
              f"NAT {s.get('nat')}, virtual IP {s.get('virtual_ip')}, peer {s.get('peer')}", flush=True)
    rc, users = espctl_json(ike_sock, "show", "users")
    uid = {u.get("identity"): u for u in users} if rc == 0 and isinstance(users, list) else {}
    ok = (set(uid) == {"rwa.example.com", "rwb@example.com"} and all(u.get("nat") is True for u in uid.values()) and
          all(u.get("outer", "").startswith("192.0.2.2[") for u in uid.values()) and
          uid["rwa.example.com"].get("auth") == "psk" and uid["rwb@example.com"].get("auth") == "pubkey" and
          len({u.get("outer") for u in uid.values()}) == 2 and
          {u.get("virtual_ip") for u in uid.values()} == set(vips))
    result(ok, "espctl_show_users_both_behind_nat", json.dumps(users)[:600])

    # Both SA pairs in the dataplane.
    dsas = {f"{s['spi']:08x}": s for s in dc.query(sock, "stats")["sa"]}
    ok = all(st["spi_in"] in dsas and st["spi_out"] in dsas for st in states.values())
    result(ok, "both_child_sa_pairs_in_dataplane", f"dataplane SAs {sorted(dsas)}, clients {states}")
    time.sleep(0.3)  # espgw-dp publishes the SPD within 100 ms

    # Pings from both at the same time, a burst each.
    pings = {ns: subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-c", "100", "-i", "0.01", "-W", "2", "-I",
                                   st["vip"], LAN_HOST], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for ns, st in states.items()}
    pout = {ns: p.communicate(timeout=60)[0] for ns, p in pings.items()}
    for ns, out in pout.items():
        m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        got = int(m.group(2)) if m else 0
        result(got >= 98, f"{ns}.ping_burst_to_lan_host_concurrently",
               (out.strip().splitlines() or [""])[-2:])
    ok, last = dc.ping(LAN, states["ei2c-rwa"]["vip"], count=2)
    ok2, last2 = dc.ping(LAN, states["ei2c-rwb"]["vip"], count=2)
    result(ok and ok2, "lan_host_pings_both_virtual_ips", f"{last} / {last2}")

    # The wire so far (IKE, both ping bursts): a few hundred packets, read before iperf3
    # would add a hundred thousand more for scapy to parse.
    time.sleep(0.3)
    procs_stop(tcpdump)
    ok, why = check_wire(pcap, states)
    print(f"on the NAT's outside: {why.strip('; ')}", flush=True)
    result(ok, "both_tunnels_esp_in_udp4500_on_the_wire", why)

    # iperf3 from both at the same time (TCP, 3 s each).
    ips = {ns: subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-c", LAN_HOST, "-B", st["vip"], "-p",
                                 str(5201 + i), "-t", "3", "-J"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
           for i, (ns, st) in enumerate(states.items())}
    for ns, p in ips.items():
        out = p.communicate(timeout=60)[0]
        try:
            j = json.loads(out)
            bps = j["end"]["sum_received"]["bits_per_second"]
            rx = j["end"]["sum_received"]["bytes"]
        except (ValueError, KeyError):
            bps, rx = 0, 0
        print(f"{ns}: iperf3 concurrently: {bps / 1e6:.1f} Mbit/s, {rx} bytes received", flush=True)
        result(p.returncode == 0 and rx > 100000, f"{ns}.iperf3_concurrently", out.strip()[-300:])

    st = dc.query(sock, "stats")
    by = {f"{s['spi']:08x}": s for s in st["sa"]}
    counts = {ns: (by.get(s["spi_out"], {}).get("packets", 0), by.get(s["spi_in"], {}).get("packets", 0))
              for ns, s in states.items()}
    result(all(i > 200 and o > 200 for i, o in counts.values()), "dataplane_counts_both_sa_pairs",
           f"(in, out) packets per client {counts}")
    bad = {k: v for k, v in st["drops"].items() if v and k in ("esp_icv_mismatch", "esp_replay_duplicate")}
    result(not bad, "no_icv_or_replay_drops", str(bad))

    result(dp.poll() is None and ike.poll() is None, "daemons_alive_at_end",
           f"espgw-dp rc {dp.poll()}, espgw-ike rc {ike.poll()}")


def procs_stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    if os.geteuid() != 0:
        result(False, "ike_two_clients_setup", "needs root")
        sys.exit(1)
    for b in (IKE_BIN, DP_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_two_clients_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="ei2c-")
    procs = dc.Procs()
    try:
        run(tmp, procs)
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_two_clients_testbed", repr(e))
    finally:
        procs.stop_all()
        if not os.environ.get("EI2C_KEEP"):
            cleanup()
        if result.failed or os.environ.get("EI2C_KEEP"):
            print(f"logs: {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if result.failed else 0)


if __name__ == "__main__":
    main()

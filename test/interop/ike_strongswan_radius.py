#!/usr/bin/python3
"""strongSwan road warriors log in through espgw-ike's EAP-RADIUS relay to FreeRADIUS,
with the whole appliance forwarding their traffic (issue 6).

    h2-erw                        h2-egw                                   h2-elan
    charon (kernel-libipsec)      espgw-dp (net_af_packet) + espgw-ike     10.78.7.2
    192.0.2.2  h2e-r0 ========= h2e-go 192.0.2.1 (outside)  (inside) 10.78.7.1 h2e-gi ==== h2e-l0
                                  FreeRADIUS on 127.0.0.1:18120/18121 (gateway's loopback)

The gateway authenticates with an ECDSA certificate; the road warrior with EAP, which
espgw-ike relays to FreeRADIUS (RFC 3579). Cases: EAP-MD5 accepted, the virtual IP is
the Framed-IP-Address FreeRADIUS returns, ping through the tunnel; a wrong password is
refused with "RADIUS reject" in espgw-ike's log; a one-time-password second factor (an
Access-Challenge carrying an EAP-GTC prompt, answered by strongSwan's eap-gtc with its
configured OTP) completes the login, a wrong OTP is refused; EAP-MSCHAPv2 through
RADIUS keys both AUTH payloads with the MSK built from the MS-MPPE keys; with FreeRADIUS stopped
the login ends in "RADIUS timeout"; accounting Start (User-Name, Framed-IP-Address)
Interim-Update and Stop arrive in FreeRADIUS's detail file with the packet and byte
counts of the dataplane's SAs, also across a CHILD_SA rekey; `espctl show ike radius` shows the counters; the RADIUS secret never appears in
espgw-ike's log or espctl's output.
The RADIUS groups (Class "staff", Filter-Id "ops") select espgw-dp's firewall rules:
each user reaches only its group's lan host. A FreeRADIUS, charon, espgw-dp or
espgw-ike that fails to start is a FAIL.
Prints TESTCASE lines; exits 1 if any case failed.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "dp"))
import demo_common as dc  # noqa: E402
import freeradius  # noqa: E402
import nsnet  # noqa: E402
import swan  # noqa: E402

BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
ESPCTL = os.path.join(BUILD, "control", "espctl")
DP_BIN = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
RW, GW, LAN = "h2-erw", "h2-egw", "h2-elan"
PREFIX = "h2-eradius"
PY = "/usr/bin/python3"
FRAMED_IP = "10.99.77.50"
OTP = "493817"
SECRET = "h2-radius-shared-secret-5c1e"
EAP_PLUGINS = swan.PLUGINS + " eap-md5 eap-gtc eap-mschapv2"

result = nsnet.Results()
sh = nsnet.sh

USERS = [
    {"name": "alice", "password": "alice-pw-1", "reply": [("Framed-IP-Address", FRAMED_IP), ("Class", '"staff"')]},
    {"name": "bob", "password": "bob-pw-22"},
    # The second factor: FreeRADIUS challenges carol with an EAP-GTC prompt for her OTP.
    {"name": "carol", "password": OTP, "check": ["EAP-Type := GTC"]},
    {"name": "dave", "password": "dave-pw-333", "check": ["EAP-Type := MSCHAPv2"], "reply": [("Filter-Id", '"ops"')]},
]


def setup_net():
    nsnet.cleanup(RW, GW, LAN)
    for ns in (RW, GW, LAN):
        sh(f"ip netns add {ns}")
        sh(f"ip -n {ns} link set lo up")
    sh(f"ip link add h2e-r0 netns {RW} type veth peer name h2e-go netns {GW}")
    sh(f"ip link add h2e-l0 netns {LAN} type veth peer name h2e-gi netns {GW}")
    sh(f"ip -n {RW} addr add 192.0.2.2/24 dev h2e-r0")
    sh(f"ip -n {RW} link set h2e-r0 up")
    for d in ("h2e-go", "h2e-gi"):
        sh(f"ip netns exec {GW} sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
        sh(f"ip -n {GW} link set {d} up")
    sh(f"ip -n {LAN} addr add 10.78.7.2/24 dev h2e-l0")
    sh(f"ip -n {LAN} addr add 10.78.7.3/24 dev h2e-l0")
    sh(f"ip -n {LAN} link set h2e-l0 up")
    sh(f"ip -n {LAN} route add default via 10.78.7.1")
    for ns, dev in ((RW, "h2e-r0"), (LAN, "h2e-l0")):
        subprocess.run(["ip", "netns", "exec", ns, PY, "-c", dc.TX_CSUM_OFF, dev], check=True, capture_output=True)


DP_CONFIG = """
[dataplane]
workers = 1
idle_backoff = true
hugepages = "on"
memory_mb = 128

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface=h2e-go"
addresses = ["192.0.2.1/24"]
mtu = 1500

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface=h2e-gi"
addresses = ["10.78.7.1/24"]
mtu = 1500

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"

# Groups from RADIUS select the rules: Class "staff" reaches .2, Filter-Id "ops" reaches .3.
[firewall]
default = "drop"

[[firewall.rule]]
comment = "staff: lan host .2"
source_group = "staff"
destination = "10.78.7.2/32"
action = "allow"

[[firewall.rule]]
comment = "ops: lan host .3"
source_group = "ops"
destination = "10.78.7.3/32"
action = "allow"
"""


def make_pki(d):
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

[pki]
cacerts = ["{d}/ca.pem"]

[pools.rw]
cidr = "10.99.7.0/24"

[radius]
servers = [ {{ address = "127.0.0.1", port = 18120, acct_port = 18121, secret = "{SECRET}" }} ]
timeout_s = 3
retries = 2
nas_identifier = "espgw-default"
interim_s = 1

[[connections]]
name = "rw-radius"
auth = "pubkey"
local_id = "gw.example.com"
local_cert = "{d}/gw.pem"
local_key = "{d}/gw.key"
remote_id = "%any"
remote_auth = "eap-radius"
nas_identifier = "gw-h2-east"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.7.0/24"]
pool = "rw"
"""


def write_charon_conf(rwdir):
    conf = swan.write_charon_conf(rwdir, retransmit_tries=2, retransmit_timeout=2.0)
    text = open(conf).read().replace(f"load = {swan.PLUGINS}", f"load = {EAP_PLUGINS}")
    with open(conf, "w") as f:
        f.write(text)
    return conf


def swanctl_conf(rwdir, d, user, method, secret):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = 192.0.2.1
    vips = 0.0.0.0
    proposals = aes256gcm16-prfsha256-ecp256
    mobike = no
    local {{
      auth = {method}
      id = {user}
      eap_id = {user}
    }}
    remote {{
      auth = pubkey
      id = gw.example.com
      cacerts = {d}/ca.pem
    }}
    children {{
      net {{
        remote_ts = 10.78.7.0/24
        esp_proposals = aes128gcm16
      }}
    }}
  }}
}}
secrets {{
  eap-user {{
    id = {user}
    secret = "{secret}"
  }}
}}
""")
    return path


def swanctl(rwdir, args, timeout=20):
    return swan.swanctl(RW, rwdir, args, timeout)


def login(rwdir, d, user, method, secret):
    """Loads the road warrior's config and initiates; returns (established, vip, list-sas)."""
    swanctl(rwdir, "--terminate --ike gw --timeout 5")
    r = swanctl(rwdir, f"--load-all --noprompt --clear --file {swanctl_conf(rwdir, d, user, method, secret)}")
    if r.returncode != 0:
        return False, None, f"swanctl --load-all: {r.stderr.strip()[:200]}"
    r = swanctl(rwdir, "--initiate --child net --timeout 15", timeout=25)
    ls = swanctl(rwdir, "--list-sas").stdout
    m = re.search(r"local\s+'[^']*' @ \S+ \[([0-9.]+)\]", ls)
    ok = r.returncode == 0 and "ESTABLISHED" in ls and "INSTALLED" in ls and m is not None
    return ok, (m.group(1) if m else None), (r.stdout + r.stderr)[-300:] + " / " + ls[-300:]


def wait_records(srv, pred, timeout=5.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        recs = [r for r in srv.acct_records() if pred(r)]
        if recs:
            return recs
        time.sleep(0.1)
    return []


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def main():
    if os.geteuid() != 0:
        result(False, "ike_radius_setup", "needs root")
        return
    for b in (IKE_BIN, DP_BIN):
        if not os.access(b, os.X_OK):
            result(False, "ike_radius_setup", f"{b} not built")
            return
    tmp = tempfile.mkdtemp(prefix="h2-eradius-")
    started = []
    srv = None
    try:
        setup_net()
        make_pki(tmp)
        srv = freeradius.FreeRadius(USERS, secret=SECRET, auth_port=18120, netns=GW,
                                    workdir=os.path.join(tmp, "raddb"))
        try:
            srv.start()
            result(True, "freeradius_started")
        except RuntimeError as e:
            result(False, "freeradius_started", str(e))
            return
        with open(os.path.join(tmp, "dp.toml"), "w") as f:
            f.write(DP_CONFIG)
        with open(os.path.join(tmp, "ike.toml"), "w") as f:
            f.write(ike_config(tmp))
        sock = os.path.join(tmp, "dp.sock")
        dp_log = os.path.join(tmp, "dp.log")
        dp = subprocess.Popen(["ip", "netns", "exec", GW, DP_BIN, "--config", os.path.join(tmp, "dp.toml"),
                               "--file-prefix", PREFIX, "--stats-socket", sock],
                              stdout=open(dp_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        started.append(dp)
        if not dc.wait_for(dp_log, "ready:", dp, 30):
            result(False, "espgw_dp_start", text(dp_log)[-600:])
            return
        ike_log = os.path.join(tmp, "ike.log")
        ctl = os.path.join(tmp, "ike.sock")
        ike = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", os.path.join(tmp, "ike.toml"),
                                "--dataplane", PREFIX, "--control-socket", ctl], stdout=open(ike_log, "w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
        started.append(ike)
        if not dc.wait_for(ike_log, "attached to espgw-dp", ike, 20):
            result(False, "espgw_ike_start", text(ike_log)[-600:])
            return
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        charon = swan.start_charon(RW, rwdir, write_charon_conf(rwdir))
        started.append(charon)
        if not swan.charon_ready(charon, rwdir):
            result(False, "strongswan_start", f"charon failed to start (rc {charon.poll()})")
            return
        time.sleep(0.2)

        # 1. EAP-MD5 through RADIUS; the virtual IP is FreeRADIUS's Framed-IP-Address.
        ok, vip, why = login(rwdir, tmp, "alice", "eap-md5", "alice-pw-1")
        result(ok, "eap_md5_via_radius_established", why)
        result(vip == FRAMED_IP, "virtual_ip_from_framed_ip_address", f"virtual IP {vip}, expected {FRAMED_IP}")
        log = text(ike_log)
        result("alice" in log and FRAMED_IP in log, "login_logged_with_user_and_virtual_ip", log[-500:])
        if ok:
            p = sh(f"ip netns exec {RW} ping -c 5 -i 0.2 -W 2 -I {vip} 10.78.7.2", check=False, timeout=20)
            result(p.returncode == 0, "ping_through_tunnel", (p.stdout + p.stderr).strip()[-200:])
            starts = wait_records(srv, lambda r: r.get("Acct-Status-Type") == "Start" and r.get("User-Name") == "alice")
            st = starts[0] if starts else {}
            # Class "staff" from the Access-Accept comes back unmodified (RFC 2865 §5.25).
            result(st.get("Framed-IP-Address") == FRAMED_IP and st.get("NAS-Identifier") == "gw-h2-east"
                   and st.get("Class") == "0x7374616666",
                   "accounting_start_record", str(st or srv.acct_records()))
            # The dataplane's view of the pair: the Interim-Update (interim_s = 1) reports it.
            ls = swanctl(rwdir, "--list-sas").stdout
            m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
            m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
            sas = {f"{s['spi']:08x}": s for s in dc.query(sock, "stats")["sa"]}
            dp_in = sas.get(m_out.group(1), {}) if m_out else {}   # strongSwan's out = our in
            dp_out = sas.get(m_in.group(1), {}) if m_in else {}
            want = (str(dp_in.get("packets")), str(dp_in.get("bytes")), str(dp_out.get("packets")),
                    str(dp_out.get("bytes")))

            def counts(r):
                return (r.get("Acct-Input-Packets"), r.get("Acct-Input-Octets"), r.get("Acct-Output-Packets"),
                        r.get("Acct-Output-Octets"))
            interims = wait_records(srv, lambda r: r.get("Acct-Status-Type") == "Interim-Update"
                                    and r.get("User-Name") == "alice" and counts(r) == want, timeout=4)
            result(bool(interims) and want[0] == "5", "accounting_interim_with_dataplane_counts",
                   f"dataplane in/out {want}; interims {[counts(r) for r in srv.acct_records('Interim-Update')]}")
            # A CHILD_SA rekey must not lose the counts of the pair it replaces.
            r = swanctl(rwdir, "--rekey --child net")
            time.sleep(0.5)
            p = sh(f"ip netns exec {RW} ping -c 5 -i 0.2 -W 2 -I {vip} 10.78.7.2", check=False, timeout=20)
            ls2 = swanctl(rwdir, "--list-sas").stdout
            new = ls2[ls2.find("net: #2"):] if "net: #2" in ls2 else ""
            n_in = re.search(r"^\s+in\s+([0-9a-f]{8})", new, re.M)
            n_out = re.search(r"^\s+out\s+([0-9a-f]{8})", new, re.M)
            rekeyed = p.returncode == 0 and m_in and n_in and n_out and n_in.group(1) != m_in.group(1)
            result(bool(rekeyed), "child_sa_rekeyed_traffic_flows", (r.stdout + r.stderr + ls2)[-300:])
            sas = {f"{s['spi']:08x}": s for s in dc.query(sock, "stats")["sa"]}
            new_in = sas.get(n_out.group(1), {}) if n_out else {}
            new_out = sas.get(n_in.group(1), {}) if n_in else {}
            swanctl(rwdir, "--terminate --ike gw --timeout 5")
            stops = wait_records(srv, lambda r: r.get("Acct-Status-Type") == "Stop" and r.get("User-Name") == "alice")
            sp = stops[0] if stops else {}
            # The Stop adds the old pair's counts (before the rekey) to the new pair's.
            try:
                total = tuple(str(int(a) + int(b)) for a, b in zip(
                    want, (new_in.get("packets"), new_in.get("bytes"), new_out.get("packets"), new_out.get("bytes"))))
            except (TypeError, ValueError):
                total = None
            result(bool(sp) and total is not None and counts(sp) == total and total[0] == "10",
                   "accounting_stop_counts_across_rekey",
                   f"stop {counts(sp)}, old pair {want} + new pair {new_in} / {new_out}; record {sp}")
            result(sp.get("Acct-Session-Id") == st.get("Acct-Session-Id") and sp.get("Acct-Session-Id"),
                   "accounting_same_session_id", f"start {st.get('Acct-Session-Id')} stop {sp.get('Acct-Session-Id')}")

        # 2. A wrong password: FreeRADIUS rejects, espgw-ike logs why, nothing is up.
        ok, _, why = login(rwdir, tmp, "bob", "eap-md5", "not-bobs-password")
        log = text(ike_log)
        result(not ok and "RADIUS reject" in log, "wrong_password_radius_reject_logged", why + " / " + log[-400:])

        # 3. Second factor: an Access-Challenge with an EAP-GTC prompt for the OTP.
        ok, vip, why = login(rwdir, tmp, "carol", "eap-gtc", OTP)
        flog = srv.log()
        result(ok and vip and vip.startswith("10.99.7."), "otp_challenge_login_completes", why)
        result("Enter your one-time password" in flog,
               "otp_prompt_sent_as_eap_gtc", flog[-300:])
        swanctl(rwdir, "--terminate --ike gw --timeout 5")
        ok, _, why = login(rwdir, tmp, "carol", "eap-gtc", "000000")
        log = text(ike_log)
        result(not ok and "failed: RADIUS reject" in log.split("id carol")[-1], "wrong_otp_refused", why)

        # 4. The RADIUS groups pick the firewall rules: alice (Class "staff") reaches .2 only.
        ok, vip, why = login(rwdir, tmp, "alice", "eap-md5", "alice-pw-1")
        if ok:
            to2 = sh(f"ip netns exec {RW} ping -c 2 -i 0.2 -W 1 -I {vip} 10.78.7.2", check=False, timeout=20)
            to3 = sh(f"ip netns exec {RW} ping -c 2 -i 0.2 -W 1 -I {vip} 10.78.7.3", check=False, timeout=20)
            ok = to2.returncode == 0 and to3.returncode != 0
            why = f"to .2 rc {to2.returncode}, to .3 rc {to3.returncode}"
        result(ok, "radius_class_group_selects_firewall_rules", why)
        swanctl(rwdir, "--terminate --ike gw --timeout 5")

        # 5. EAP-MSCHAPv2 (what Windows/macOS/iOS clients use) through RADIUS: both AUTH
        #    payloads are keyed with the MSK, which espgw-ike builds from the MS-MPPE keys
        #    (Recv-Key | Send-Key): a wrong order or decryption fails the login.
        ok, vip, why = login(rwdir, tmp, "dave", "eap-mschapv2", "dave-pw-333")
        clog = text(os.path.join(rwdir, "charon.log"))
        result(ok and "EAP method EAP_MSCHAPV2 succeeded, MSK established" in clog,
               "eap_mschapv2_via_radius_msk_auth", why + " / " + clog[-300:])
        log = text(ike_log)
        result("user dave authenticated with EAP-RADIUS" in log and "groups ops" in log,
               "radius_filter_id_group_logged", log[-300:])
        if ok:
            # dave (Filter-Id "ops") reaches .3, not .2.
            to2 = sh(f"ip netns exec {RW} ping -c 2 -i 0.2 -W 1 -I {vip} 10.78.7.2", check=False, timeout=20)
            to3 = sh(f"ip netns exec {RW} ping -c 2 -i 0.2 -W 1 -I {vip} 10.78.7.3", check=False, timeout=20)
            result(to3.returncode == 0 and to2.returncode != 0, "radius_filter_id_group_selects_firewall_rules",
                   f"to .2 rc {to2.returncode}, to .3 rc {to3.returncode}")
        swanctl(rwdir, "--terminate --ike gw --timeout 5")

        # 6. FreeRADIUS gone: the login ends in "RADIUS timeout" (timeout_s 3, 3 sends).
        srv.stop()
        t0 = time.time()
        ok, _, why = login(rwdir, tmp, "alice", "eap-md5", "alice-pw-1")
        log = text(ike_log)
        result(not ok and "RADIUS timeout" in log, "radius_timeout_refused_and_logged",
               f"{time.time() - t0:.1f}s {why} / {log[-300:]}")

        # The operator's view: espctl show ike radius (counters, never the secret).
        p = subprocess.run([ESPCTL, "--ike-socket", ctl, "--json", "show", "ike", "radius"], capture_output=True,
                           text=True, timeout=10)
        try:
            st = json.loads(p.stdout)
        except ValueError:
            st = {}
        human = subprocess.run([ESPCTL, "--ike-socket", ctl, "show", "ike", "radius"], capture_output=True,
                               text=True, timeout=10).stdout
        result(st.get("servers") == "127.0.0.1:18120/18121" and st.get("timeouts", 0) >= 1 and st.get("replies", 0) >= 8
               and st.get("acct_starts", 0) >= 3 and st.get("acct_stops", 0) >= 3 and SECRET not in p.stdout + human,
               "espctl_show_ike_radius", p.stdout + p.stderr)

        log = text(ike_log)
        result(SECRET not in log and "alice-pw-1" not in log and OTP not in log, "no_secret_or_password_in_log",
               "secret or password found in espgw-ike's log")
        result(ike.poll() is None and dp.poll() is None, "daemons_alive_at_end",
               f"espgw-ike rc {ike.poll()}, espgw-dp rc {dp.poll()}")
    finally:
        for p in reversed(started):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15)
                    p.wait(5)
                except Exception:  # noqa: BLE001
                    p.kill()
        if srv:
            srv.stop()
        nsnet.cleanup(RW, GW, LAN)
        print(f"logs: {tmp}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_radius_testbed", repr(e))
    sys.exit(1 if result.failed else 0)

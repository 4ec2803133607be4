"""The whole appliance in network namespaces, for the interop scripts that run espgw-dp
and espgw-ike (attached through its dataplane agent) against real road warriors:

    TAG-rw 10.66.1.2 ── TAG-nat 10.66.1.1 | 192.0.2.2 ══ TAG-gw: espgw-dp 192.0.2.1 | 10.78.0.1 ══ TAG-lan 10.78.0.2
    (charon)            (MASQUERADE)                      outside TAG-go     inside TAG-gi           (fd00:78::2 with lan6)

Without the NAT (nat=False) the road warrior sits directly on the outside link at
192.0.2.2. Veth names are TAG-r0/TAG-n0 (rw-nat), TAG-n1/TAG-go (nat-gw; TAG-r0/TAG-go
without the NAT) and TAG-l0/TAG-gi (lan-gw): a tag of up to 8 characters keeps them
under the kernel's 15. The kernel hosts facing espgw-dp's af_packet ports get TX
checksum offload off (dp_e2e_scapy.TX_CSUM_OFF).
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
DP_BIN = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
ESPCTL = os.path.join(BUILD, "control", "espctl")
PY = "/usr/bin/python3"
sys.path.insert(0, os.path.join(ROOT, "test", "dp"))
import demo_common as dc  # noqa: E402  (stats socket, wait_for, Procs, TX_CSUM_OFF)
import nsnet  # noqa: E402

PUBLIC, NAT_OUT, INSIDE, LAN_HOST = "192.0.2.1", "192.0.2.2", "10.78.0.1", "10.78.0.2"
INSIDE6, LAN_HOST6 = "fd00:78::1", "fd00:78::2"


class Topology:
    def __init__(self, tag, nat=True, lan6=False):
        self.tag, self.nat, self.lan6 = tag, nat, lan6
        self.rw, self.gw, self.lan = f"{tag}-rw", f"{tag}-gw", f"{tag}-lan"
        self.natns = f"{tag}-nat" if nat else None
        self.namespaces = [n for n in (self.rw, self.natns, self.gw, self.lan) if n]
        self.outside_if, self.inside_if = f"{tag}-go", f"{tag}-gi"

    def cleanup(self):
        nsnet.cleanup(*self.namespaces)

    def setup(self):
        t, sh = self.tag, nsnet.sh
        self.cleanup()
        for ns in self.namespaces:
            sh(f"ip netns add {ns}")
            sh(f"ip -n {ns} link set lo up")
        if self.lan6:  # addresses usable at once: no duplicate address detection
            for ns in (self.rw, self.lan):
                for k in ("all", "default"):
                    sh(f"ip netns exec {ns} sysctl -qw net.ipv6.conf.{k}.accept_dad=0")
        if self.nat:
            sh(f"ip link add {t}-r0 netns {self.rw} type veth peer name {t}-n0 netns {self.natns}")
            sh(f"ip link add {t}-n1 netns {self.natns} type veth peer name {t}-go netns {self.gw}")
            sh(f"ip -n {self.rw} addr add 10.66.1.2/24 dev {t}-r0")
            sh(f"ip -n {self.natns} addr add 10.66.1.1/24 dev {t}-n0")
            sh(f"ip -n {self.natns} addr add {NAT_OUT}/24 dev {t}-n1")
            for d in (f"{t}-n0", f"{t}-n1"):
                sh(f"ip -n {self.natns} link set {d} up")
            sh(f"ip netns exec {self.natns} sysctl -qw net.ipv4.ip_forward=1")
            sh(f"ip netns exec {self.natns} iptables -t nat -A POSTROUTING -o {t}-n1 -j MASQUERADE")
            outer_host = (self.natns, f"{t}-n1")
        else:
            sh(f"ip link add {t}-r0 netns {self.rw} type veth peer name {t}-go netns {self.gw}")
            sh(f"ip -n {self.rw} addr add {NAT_OUT}/24 dev {t}-r0")
            outer_host = (self.rw, f"{t}-r0")
        sh(f"ip -n {self.rw} link set {t}-r0 up")
        if self.nat:
            sh(f"ip -n {self.rw} route replace default via 10.66.1.1")
        sh(f"ip link add {t}-l0 netns {self.lan} type veth peer name {t}-gi netns {self.gw}")
        for d in (self.outside_if, self.inside_if):
            sh(f"ip netns exec {self.gw} sysctl -qw net.ipv6.conf.{d}.disable_ipv6=1")
            sh(f"ip -n {self.gw} link set {d} up")
        sh(f"ip -n {self.lan} addr add {LAN_HOST}/24 dev {t}-l0")
        if self.lan6:
            sh(f"ip -n {self.lan} addr add {LAN_HOST6}/64 dev {t}-l0 nodad")
        sh(f"ip -n {self.lan} link set {t}-l0 up")
        sh(f"ip -n {self.lan} route add default via {INSIDE}")
        if self.lan6:
            sh(f"ip -n {self.lan} -6 route add default via {INSIDE6}")
        for ns, dev in (outer_host, (self.lan, f"{t}-l0")):
            subprocess.run(["ip", "netns", "exec", ns, PY, "-c", dc.TX_CSUM_OFF, dev], check=True,
                           capture_output=True)

    def dp_config(self, extra=""):
        """espgw-dp's configuration: one worker, the two af_packet ports, a default route
        out of the outside port, bypass for everything no IKE CHILD_SA protects."""
        inside = f'"{INSIDE}/24"' + (f', "{INSIDE6}/64"' if self.lan6 else "")
        bypass6 = '\n[[policy]]\npriority = 1000\ndst = "::/0"\naction = "bypass"\n' if self.lan6 else ""
        return f"""
[dataplane]
workers = 1
idle_backoff = true
hugepages = "on"
memory_mb = 128

[[port]]
name = "outside"
role = "outside"
device = "net_af_packet0,iface={self.outside_if}"
addresses = ["{PUBLIC}/24"]
mtu = 1500

[[port]]
name = "inside"
role = "inside"
device = "net_af_packet1,iface={self.inside_if}"
addresses = [{inside}]
mtu = 1500

[[route]]
prefix = "0.0.0.0/0"
via = "{NAT_OUT}"
port = "outside"

[[policy]]
priority = 1000
dst = "0.0.0.0/0"
action = "bypass"
{bypass6}{extra}"""


class Daemons:
    """espgw-dp and espgw-ike (attached to it) in the gateway namespace, in `tmp`."""

    def __init__(self, topo, tmp, procs, prefix=None):
        self.topo, self.tmp, self.procs = topo, tmp, procs
        self.prefix = prefix or f"{topo.tag}-dp"
        self.sock = os.path.join(tmp, "dp.sock")
        self.ctl = os.path.join(tmp, "ike.sock")
        self.dp_log, self.ike_log = os.path.join(tmp, "dp.log"), os.path.join(tmp, "ike.log")
        self.dp = self.ike = None

    def start(self, ike_toml, dp_extra="", ike_args=()):
        """Starts both; returns "" or why not (a failure to start is the caller's FAIL)."""
        with open(os.path.join(self.tmp, "dp.toml"), "w") as f:
            f.write(self.topo.dp_config(dp_extra))
        with open(os.path.join(self.tmp, "ike.toml"), "w") as f:
            f.write(ike_toml)
        self.dp = self.procs.start([DP_BIN, "--config", os.path.join(self.tmp, "dp.toml"), "--file-prefix",
                                    self.prefix, "--stats-socket", self.sock], self.topo.gw, self.dp_log)
        if not dc.wait_for(self.dp_log, "ready:", self.dp, 30):
            return f"espgw-dp did not start: {open(self.dp_log).read()[-400:]}"
        self.ike = self.procs.start([IKE_BIN, "-c", os.path.join(self.tmp, "ike.toml"), "--dataplane", self.prefix,
                                     "--control-socket", self.ctl, *ike_args], self.topo.gw, self.ike_log)
        if not dc.wait_for(self.ike_log, "attached to espgw-dp", self.ike, 20):
            return f"espgw-ike did not attach: {open(self.ike_log).read()[-400:]}"
        return ""

    def alive(self):
        return self.dp is not None and self.ike is not None and self.dp.poll() is None and self.ike.poll() is None

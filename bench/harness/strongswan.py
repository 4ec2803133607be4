"""strongSwan's userspace ESP (kernel-libipsec, UDP-encapsulated through a TUN device)
between two namespaces, measured with iperf3 over a bounded window. TESTBED.md's
pitfalls: one charon per namespace with its own /run (bind mount, fixed pid file),
own strongswan.conf, vici socket and log; explicit plugin list with kdf and
kernel-libipsec before kernel-netlink; no resolve plugin."""
import json
import os
import shutil
import subprocess
import time

NS = ("ebn-ssa", "ebn-ssb")
VETH = ("ebn-sa0", "ebn-sb0")
OUTER = ("172.31.250.1", "172.31.250.2")
INNER = ("10.51.1.1", "10.51.2.1")
PLUGINS = ("random drbg nonce kdf openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey sha1 sha2 hmac "
           "aes gmp kernel-libipsec kernel-netlink socket-default vici updown attr")


def _sh(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {(r.stderr or r.stdout).strip()[-300:]}")
    return r


def cleanup(procs=()):
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _instance(base, i, me, peer):
    d = os.path.join(base, me)
    for sub in ("run", "x509", "x509ca", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "x509aa", "x509ocsp",
                "x509crl", "x509ac", "pubkey", "conf.d"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "strongswan.conf"), "w") as f:
        f.write(f"""charon {{
  load_modular = no
  load = {PLUGINS}
  port = 500
  port_nat_t = 4500
  plugins {{
    vici {{ socket = unix://{d}/charon.vici }}
  }}
  filelog {{
    log {{ path = {d}/charon.log
      default = 1 }}
  }}
}}
""")
    with open(os.path.join(d, "swanctl.conf"), "w") as f:
        f.write(f"""connections {{
  bench {{
    version = 2
    local_addrs = {OUTER[i]}
    remote_addrs = {OUTER[1 - i]}
    mobike = no
    proposals = aes128-sha256-modp2048
    local {{ auth = psk
      id = {me} }}
    remote {{ auth = psk
      id = {peer} }}
    children {{
      bench {{
        local_ts = {INNER[i]}/32
        remote_ts = {INNER[1 - i]}/32
        esp_proposals = aes128-sha256
      }}
    }}
  }}
}}
secrets {{
  ike-bench {{ id-a = a
    id-b = b
    secret = "espgw-bench-psk-0123456789" }}
}}
""")
    return d


def measure(workdir, seconds):
    """Returns {"status", "summary", "gbps", ...}; never raises."""
    base = os.path.join(workdir, "strongswan")
    shutil.rmtree(base, ignore_errors=True)
    procs = []
    cleanup()
    try:
        for ns in NS:
            _sh(["ip", "netns", "add", ns])
            _sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        _sh(["ip", "link", "add", VETH[0], "netns", NS[0], "type", "veth", "peer", "name", VETH[1], "netns", NS[1]])
        for i in range(2):
            _sh(["ip", "-n", NS[i], "addr", "add", OUTER[i] + "/24", "dev", VETH[i]])
            _sh(["ip", "-n", NS[i], "link", "set", VETH[i], "up"])
            _sh(["ip", "-n", NS[i], "addr", "add", INNER[i] + "/32", "dev", "lo"])
        dirs = [_instance(base, 0, "a", "b"), _instance(base, 1, "b", "a")]
        for i in range(2):
            d = dirs[i]
            script = (f"mount --bind {d}/run /run && STRONGSWAN_CONF={d}/strongswan.conf "
                      "exec /usr/lib/ipsec/charon")
            procs.append(subprocess.Popen(["ip", "netns", "exec", NS[i], "sh", "-c", script],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for i in range(2):
            sock = os.path.join(dirs[i], "charon.vici")
            for _ in range(100):
                if os.path.exists(sock):
                    break
                if procs[i].poll() is not None:
                    raise RuntimeError(f"charon {NS[i]} exited {procs[i].returncode}")
                time.sleep(0.1)
            _sh(["swanctl", "--load-all", "--file", os.path.join(dirs[i], "swanctl.conf"),
                 "--uri", f"unix://{sock}"])
        _sh(["swanctl", "--initiate", "--child", "bench", "--timeout", "10",
             "--uri", f"unix://{os.path.join(dirs[0], 'charon.vici')}"])
        srv = subprocess.Popen(["ip", "netns", "exec", NS[1], "iperf3", "-s", "-1", "-B", INNER[1], "-p", "5299"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(srv)
        time.sleep(0.5)
        r = subprocess.run(["ip", "netns", "exec", NS[0], "iperf3", "-c", INNER[1], "-B", INNER[0], "-p", "5299",
                            "-t", str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 30)
        j = json.loads(r.stdout) if r.stdout.strip() else {}
        if "error" in j or "end" not in j:
            raise RuntimeError(f"iperf3: {j.get('error', r.stderr.strip()[-200:])}")
        bps = j["end"]["sum_received"]["bits_per_second"]
        cpu = j["end"].get("cpu_utilization_percent", {})
        gbps = bps / 1e9
        return {"status": "ok", "gbps": gbps, "seconds": seconds, "iperf3_cpu": cpu,
                "summary": f"{gbps:.3f} Gbit/s TCP goodput through kernel-libipsec (AES-CBC-128+HMAC-SHA-256-128: libipsec has no AES-GCM without the gcm plugin, which Debian does not ship; UDP-encapsulated, "
                           f"iperf3 {seconds} s, both charons and iperf3 on the same 2 cores)"}
    except Exception as e:  # noqa: BLE001
        logs = ""
        for who in ("a", "b"):
            lf = os.path.join(base, who, "charon.log")
            if os.path.exists(lf):
                logs += f" [{who}: " + open(lf).read()[-200:].replace("\n", " | ") + "]"
        return {"status": "error", "summary": f"not measured: {e}{logs}"}
    finally:
        if not os.environ.get("EBN_KEEP"): cleanup(procs)

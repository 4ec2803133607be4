"""strongSwan 5.9 road warriors in network namespaces, for the interop tests.

One charon per namespace with its own strongswan.conf, vici socket and log (TESTBED.md):
charon's pid file is fixed under /run, so each instance runs with a private /run
(bind mount inside `ip netns exec`'s mount namespace). The plugin list puts
kernel-libipsec (userspace ESP through a TUN device, always UDP-encapsulated) before
kernel-netlink, since the kernels here have no ESP.
"""
import os
import subprocess
import time

PLUGINS = ("random drbg nonce kdf openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey sha1 sha2 hmac "
           "aes gmp curve25519 kernel-libipsec kernel-netlink socket-default vici updown attr")
CRED_DIRS = ("x509", "x509ca", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "x509aa", "x509ocsp", "x509crl",
             "x509ac", "pubkey", "conf.d")


def write_charon_conf(rwdir, retransmit_tries=2, retransmit_timeout=1.0, log_levels="", plugins=""):
    """strongswan.conf for one charon in `rwdir` (vici socket rwdir/charon.vici, log
    rwdir/charon.log) and the credential folders swanctl scans beside its config.
    `log_levels`: more filelog lines, e.g. "chd = 4" (level 4 logs CHILD_SA keys: tests only);
    `plugins`: more lines for the plugins section."""
    conf = os.path.join(rwdir, "strongswan.conf")
    with open(conf, "w") as f:
        f.write(f"""charon {{
  load_modular = no
  load = {PLUGINS}
  plugins {{
    vici {{
      socket = unix://{rwdir}/charon.vici
    }}
    {plugins}
  }}
  filelog {{
    rw {{
      path = {rwdir}/charon.log
      default = 1
      ike = 2
      {log_levels}
      time_format = %H:%M:%S
      flush_line = yes
    }}
  }}
  retransmit_tries = {retransmit_tries}
  retransmit_timeout = {retransmit_timeout}
}}
""")
    for d in CRED_DIRS:
        os.makedirs(os.path.join(rwdir, d), exist_ok=True)
    return conf


def start_charon(ns, rwdir, conf, stderr_path=None):
    """Starts charon in namespace `ns` with a private /run under rwdir/run. Returns the
    Popen once its vici socket exists, or (Popen, reason) semantics via `ready()`."""
    rundir = os.path.join(rwdir, "run")
    os.makedirs(rundir, exist_ok=True)
    err = open(stderr_path or os.path.join(rwdir, "charon.stderr"), "w")
    p = subprocess.Popen(["ip", "netns", "exec", ns, "sh", "-c",
                          f"mount --bind {rundir} /run && STRONGSWAN_CONF={conf} exec /usr/lib/ipsec/charon"],
                         stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    vici = os.path.join(rwdir, "charon.vici")
    for _ in range(100):
        if os.path.exists(vici) or p.poll() is not None:
            break
        time.sleep(0.05)
    return p


def charon_ready(p, rwdir):
    return p.poll() is None and os.path.exists(os.path.join(rwdir, "charon.vici"))


def swanctl(ns, rwdir, args, timeout=20):
    """Runs `swanctl CMD --uri ... REST` in `ns` (swanctl wants the command first)."""
    cmd, _, rest = args.partition(" ")
    return subprocess.run(f"ip netns exec {ns} swanctl {cmd} --uri unix://{rwdir}/charon.vici {rest}", shell=True,
                          capture_output=True, text=True, timeout=timeout)


def psk_conf(rwdir, gw_ip, proposals, esp, remote_ts, psk, local_id="rw@example.com", remote_id="gw.example.com",
             local_addrs=None):
    """swanctl.conf in `rwdir` for a road warrior with PSK auth asking for a virtual IP:
    connection "gw", child "net" (initiate with `--child net`). Returns its path."""
    path = os.path.join(rwdir, "swanctl.conf")
    addrs = f"local_addrs = {local_addrs}\n    " if local_addrs else ""
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    {addrs}remote_addrs = {gw_ip}
    vips = 0.0.0.0
    proposals = {proposals}
    mobike = no
    local {{
      auth = psk
      id = {local_id}
    }}
    remote {{
      auth = psk
      id = {remote_id}
    }}
    children {{
      net {{
        remote_ts = {remote_ts}
        esp_proposals = {esp}
      }}
    }}
  }}
}}
secrets {{
  ike-gw {{
    id-a = {local_id}
    id-b = {remote_id}
    secret = "{psk}"
  }}
}}
""")
    return path

#!/usr/bin/python3
"""espgw-ike as IKEv2 responder against a strongSwan 5.9 road warrior (PSK, virtual IP).

Topology: netns eike-gw (espgw-ike on 10.77.0.1, plain UDP 500/4500) and netns eike-rw
(charon with kernel-libipsec, 10.77.0.2), joined by a veth pair. For each proposal
pair strongSwan initiates IKE_SA_INIT + IKE_AUTH with a CP request; the case passes
when `swanctl --list-sas` shows the IKE SA ESTABLISHED with the expected algorithms,
the CHILD_SA INSTALLED with a virtual IP from espgw-ike's pool, and espgw-ike's SA
output (JSON lines) has the same SPIs (ours in = theirs out). A strongSwan that fails
to start is a FAIL. Prints TESTCASE lines; exits 1 if any case failed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
GW, RW = "eike-gw", "eike-rw"
GW_IP, RW_IP = "10.77.0.1", "10.77.0.2"
PSK = "eike-interop-secret-0123456789"
POOL = "10.99.7.0/24"

CASES = [
    # name, strongSwan IKE proposal, ESP proposal, swanctl IKE algorithm line, ESP line
    ("psk_gcm256_ecp256", "aes256gcm16-prfsha256-ecp256", "aes128gcm16",
     "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256", "ESP:AES_GCM_16-128"),
    ("psk_gcm256_modp2048", "aes256gcm16-prfsha256-modp2048", "aes128gcm16",
     "AES_GCM_16-256/PRF_HMAC_SHA2_256/MODP_2048", "ESP:AES_GCM_16-128"),
    ("psk_gcm256_curve25519", "aes256gcm16-prfsha256-curve25519", "aes128gcm16",
     "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519", "ESP:AES_GCM_16-128"),
    ("psk_cbc128_sha256_ecp256", "aes128-sha256-ecp256", "aes128-sha256",
     "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256", "ESP:AES_CBC-128/HMAC_SHA2_256_128"),
]

failed = 0


def result(ok, name, why=""):
    global failed
    if ok:
        print(f"TESTCASE PASS {name}", flush=True)
    else:
        failed += 1
        print(f"TESTCASE FAIL {name}: {why}", flush=True)


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True, **kw)


def cleanup():
    for ns in (GW, RW):
        sh(f"ip netns pids {ns} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {ns}", check=False)


def setup_net():
    cleanup()
    sh(f"ip netns add {GW}")
    sh(f"ip netns add {RW}")
    sh(f"ip link add eike-g0 netns {GW} type veth peer name eike-r0 netns {RW}")
    sh(f"ip -n {GW} addr add {GW_IP}/24 dev eike-g0")
    sh(f"ip -n {RW} addr add {RW_IP}/24 dev eike-r0")
    for ns, dev in ((GW, "eike-g0"), (RW, "eike-r0")):
        sh(f"ip -n {ns} link set lo up")
        sh(f"ip -n {ns} link set {dev} up")


def write_gw_config(tmp, sa_out):
    path = os.path.join(tmp, "espgw-ike.toml")
    props = ", ".join(f'"{c[1]}"' for c in CASES)
    esp = '"aes256gcm16", "aes128gcm16", "aes128-sha256"'
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
sa_output = "{sa_out}"

[pools.rw]
cidr = "{POOL}"
dns = ["10.99.7.53"]

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = [{props}]
esp_proposals = [{esp}]
local_ts = ["10.78.0.0/24"]
pool = "rw"
""")
    return path


def write_charon_conf(rwdir):
    conf = os.path.join(rwdir, "strongswan.conf")
    with open(conf, "w") as f:
        f.write(f"""charon {{
  load_modular = no
  load = random drbg nonce kdf openssl pem pkcs1 pkcs8 x509 revocation constraints pubkey sha1 sha2 hmac aes gmp curve25519 kernel-libipsec kernel-netlink socket-default vici updown attr
  plugins {{
    vici {{
      socket = unix://{rwdir}/charon.vici
    }}
  }}
  filelog {{
    rw {{
      path = {rwdir}/charon.log
      default = 1
      ike = 2
      time_format = %H:%M:%S
    }}
  }}
  retransmit_tries = 2
  retransmit_timeout = 1.0
}}
""")
    for d in ("x509", "x509ca", "private", "rsa", "ecdsa", "pkcs8", "pkcs12", "x509aa", "x509ocsp", "x509crl",
              "x509ac", "pubkey", "conf.d"):
        os.makedirs(os.path.join(rwdir, d), exist_ok=True)
    return conf


def write_swanctl(rwdir, ike, esp):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {GW_IP}
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
    # swanctl wants the command first, then its options (--uri among them).
    cmd, _, rest = args.partition(" ")
    return sh(f"ip netns exec {RW} swanctl {cmd} --uri unix://{rwdir}/charon.vici {rest}", check=False,
              timeout=timeout)


def read_sas(sa_out):
    out = []
    if os.path.exists(sa_out):
        with open(sa_out) as f:
            for line in f:
                ev = json.loads(line)
                if ev.get("event") == "install":
                    out.append(ev["sa"])
    return out


def main():
    if os.geteuid() != 0:
        result(False, "ike_strongswan_setup", "needs root for network namespaces")
        return
    if not os.access(IKE_BIN, os.X_OK):
        result(False, "ike_strongswan_setup", f"{IKE_BIN} not built")
        return
    tmp = tempfile.mkdtemp(prefix="eike-")
    gw_proc = charon = None
    try:
        setup_net()
        sa_out = os.path.join(tmp, "sas.jsonl")
        gw_log = open(os.path.join(tmp, "espgw-ike.log"), "w")
        gw_proc = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_gw_config(tmp, sa_out)],
                                   stdout=gw_log, stderr=subprocess.STDOUT)
        rwdir = os.path.join(tmp, "rw")
        rundir = os.path.join(rwdir, "run")
        os.makedirs(rundir)
        conf = write_charon_conf(rwdir)
        charon = subprocess.Popen(
            ["ip", "netns", "exec", RW, "sh", "-c",
             f"mount --bind {rundir} /run && STRONGSWAN_CONF={conf} exec /usr/lib/ipsec/charon"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(rwdir, "charon.stderr"), "w"))
        for _ in range(100):
            if os.path.exists(os.path.join(rwdir, "charon.vici")) or charon.poll() is not None:
                break
            time.sleep(0.05)
        if charon.poll() is not None or not os.path.exists(os.path.join(rwdir, "charon.vici")):
            for c in CASES:
                result(False, c[0], f"strongSwan charon failed to start (rc {charon.poll()})")
            return
        time.sleep(0.2)
        with open(os.path.join(rwdir, "charon.log")) as f:
            missing = re.findall(r"plugin '(openssl|curve25519)': failed to load", f.read())
        if missing:
            for c in CASES:
                result(False, c[0], f"strongSwan plugins missing: {missing} (install libstrongswan-standard-plugins "
                       "and libstrongswan-extra-plugins)")
            return
        if gw_proc.poll() is not None:
            for c in CASES:
                result(False, c[0], f"espgw-ike exited (rc {gw_proc.returncode})")
            return
        for name, ike, esp, ike_line, esp_line in CASES:
            swconf = write_swanctl(rwdir, ike, esp)
            r = swanctl(rwdir, f"--load-all --noprompt --file {swconf}")
            if r.returncode != 0:
                result(False, name, f"swanctl --load-all failed: {r.stderr.strip()[:200]}")
                continue
            before = len(read_sas(sa_out))
            r = swanctl(rwdir, "--initiate --child net --timeout 10")
            if r.returncode != 0:
                tail = r.stdout.strip().splitlines()[-3:]
                result(False, name, f"initiate failed: {' | '.join(tail)}")
                swanctl(rwdir, "--terminate --ike gw --force --timeout 3")
                continue
            ls = swanctl(rwdir, "--list-sas").stdout
            sas = read_sas(sa_out)
            why = ""
            m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
            m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
            m_vip = re.search(r"local\s+'rw@example.com' @ \S+ \[([0-9.]+)\]", ls)
            if "ESTABLISHED" not in ls:
                why = "IKE SA not ESTABLISHED"
            elif ike_line not in ls:
                why = f"IKE algorithms not {ike_line}"
            elif "INSTALLED" not in ls or esp_line not in ls:
                why = f"CHILD_SA not INSTALLED with {esp_line}"
            elif not m_vip or not m_vip.group(1).startswith("10.99.7."):
                why = "no virtual IP from pool 10.99.7.0/24"
            elif len(sas) != before + 1:
                why = f"espgw-ike reported {len(sas) - before} CHILD_SA installs, expected 1"
            elif not m_in or not m_out:
                why = "SPIs not found in swanctl output"
            else:
                ours = sas[-1]
                if ours["spi_in"] != m_out.group(1) or ours["spi_out"] != m_in.group(1):
                    why = (f"SPI mismatch: espgw in/out {ours['spi_in']}/{ours['spi_out']}, "
                           f"strongSwan in/out {m_in.group(1)}/{m_out.group(1)}")
                elif ours["virtual_ip"] != m_vip.group(1):
                    why = f"virtual IP mismatch {ours['virtual_ip']} vs {m_vip.group(1)}"
                elif ours["ts_local"] != ["10.78.0.0..10.78.0.255"]:
                    why = f"narrowed local TS {ours['ts_local']}"
                elif not ours["udp_encap"]:
                    why = "NAT (faked by libipsec) not detected: no UDP encapsulation"
            if why and os.environ.get("EIKE_DEBUG"):
                print(ls, file=sys.stderr)
            result(not why, name, why)
            swanctl(rwdir, "--terminate --ike gw --timeout 5")
            time.sleep(0.1)
    except subprocess.CalledProcessError as e:
        result(False, "ike_strongswan_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    finally:
        for p in (charon, gw_proc):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
        cleanup()
        if os.environ.get("EIKE_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if failed else 0)

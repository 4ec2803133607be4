"""IKE handshakes per second (issue 8): espgw-ike as responder side by side with
strongSwan's charon as responder, to the same initiator load: an espgw-ike initiator
with N site-to-site connections (start_action = "start": all N IKE_SA_INIT + IKE_AUTH +
first CHILD_SA at once) in its own network namespace. Rate = N / (time of the N-th
"IKE SA established as initiator" - time of the first "initiating"), from the
initiator's log (millisecond stamps). Both responders run with cookies off (threshold
above N) so the figure is the handshake cost; espgw-ike's responder hands CHILD_SAs to
its JSON sink, charon's to kernel-libipsec (userspace, no kernel).

    measure(build_dir, n, trials) -> {"espgw": {...}, "charon": {...}, "n": N}
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "interop"))
import nsnet  # noqa: E402
import swan  # noqa: E402

INI, RSP = "eir-i", "eir-r"
INI_IP, RSP_IP = "10.77.6.2", "10.77.6.1"
PSK = "eir-bench-secret-0123456789abcdef"
PROPOSAL, ESP = "aes256gcm16-prfsha256-ecp256", "aes128gcm16"


def initiator_config(tmp, n):
    path = os.path.join(tmp, "initiator.toml")
    with open(path, "w") as f:
        f.write(f'[ike]\nlisten = "{INI_IP}"\ndpd_delay = 0\nrekey_time = 0\nretransmit_timeout = 2.0\n'
                f"cookie_threshold = 100000\n")
        for i in range(n):
            f.write(f"""
[[connections]]
name = "c{i}"
local_id = "load{i}@bench"
remote_id = "gw.bench"
remote_addr = "{RSP_IP}"
start_action = "start"
dpd_action = "clear"
psk = "{PSK}"
ike_proposals = ["{PROPOSAL}"]
esp_proposals = ["{ESP}"]
local_ts = ["10.200.{i // 250}.{i % 250 + 1}/32"]
remote_ts = ["10.250.0.0/24"]
""")
    return path


def espgw_responder(tmp, ike_bin, n):
    path = os.path.join(tmp, "responder.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{RSP_IP}"
dpd_delay = 0
rekey_time = 0
cookie_threshold = {n + 1000}

[[connections]]
name = "load"
local_id = "gw.bench"
remote_id = "%any"
psk = "{PSK}"
ike_proposals = ["{PROPOSAL}"]
esp_proposals = ["{ESP}"]
local_ts = ["10.250.0.0/24"]
""")
    log = os.path.join(tmp, "responder.log")
    p = subprocess.Popen(["ip", "netns", "exec", RSP, ike_bin, "-c", path, "--control-socket", "none"],
                         stdout=open(log, "w"), stderr=subprocess.STDOUT)
    time.sleep(0.3)
    if p.poll() is not None:
        raise RuntimeError(f"espgw-ike responder exited: {open(log).read()[-300:]}")
    return p


def charon_responder(tmp, n):
    rdir = os.path.join(tmp, "charon")
    os.makedirs(rdir, exist_ok=True)
    conf = swan.write_charon_conf(rdir)
    with open(conf) as f:
        text = f.read()
    # Cookies off (threshold above N), no half-open limit, logging at the default level.
    text = text.replace("  retransmit_tries", f"  dos_protection = no\n  cookie_threshold = {n + 1000}\n"
                        "  init_limit_half_open = 0\n  retransmit_tries", 1).replace("ike = 2", "ike = " + os.environ.get("EIR_CHARON_IKE_LOG", "0"))
    with open(conf, "w") as f:
        f.write(text)
    p = swan.start_charon(RSP, rdir, conf)
    if not swan.charon_ready(p, rdir):
        raise RuntimeError(f"charon failed to start (rc {p.poll()})")
    with open(os.path.join(rdir, "swanctl.conf"), "w") as f:
        f.write(f"""connections {{
  load {{
    version = 2
    local_addrs = {RSP_IP}
    proposals = {PROPOSAL}
    mobike = no
    local {{
      auth = psk
      id = gw.bench
    }}
    remote {{
      auth = psk
    }}
    children {{
      net {{
        local_ts = 10.250.0.0/24
        remote_ts = 10.200.0.0/16
        esp_proposals = {ESP}
      }}
    }}
  }}
}}
secrets {{
  ike-any {{
    secret = "{PSK}"
  }}
}}
""")
    r = swan.swanctl(RSP, rdir, f"--load-all --noprompt --file {rdir}/swanctl.conf")
    if r.returncode != 0:
        raise RuntimeError(f"swanctl --load-all: {(r.stderr or r.stdout)[-200:]}")
    return p


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z")


def stamp(line):
    m = STAMP.match(line)
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp() if m else None


def one_run(tmp, ike_bin, n, responder):
    nsnet.veth_pair(RSP, INI, RSP_IP, INI_IP, "eir")
    # N requests arrive at once: socket buffers large enough that none is dropped (a
    # drop would measure the 2 s retransmission timer, not the handshake). espgw-ike asks
    # for 4 MiB itself; charon takes the namespace's default.
    for ns in (RSP, INI):
        nsnet.sh(f"ip netns exec {ns} sysctl -qw net.core.rmem_default=4194304", check=False)
    procs = []
    try:
        procs.append(espgw_responder(tmp, ike_bin, n) if responder == "espgw" else charon_responder(tmp, n))
        log = os.path.join(tmp, f"initiator-{responder}.log")
        ini = subprocess.Popen(["ip", "netns", "exec", INI, ike_bin, "-c", initiator_config(tmp, n),
                                "--control-socket", "none"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
        procs.append(ini)
        deadline = time.time() + 60
        done = 0
        while time.time() < deadline:
            time.sleep(0.2)
            with open(log) as f:
                done = sum(1 for line in f if "IKE SA established as initiator" in line)
            if done >= n or ini.poll() is not None:
                break
        with open(log) as f:
            lines = f.readlines()
        starts = [stamp(x) for x in lines if "initiating IKE SA" in x]
        ends = [stamp(x) for x in lines if "IKE SA established as initiator" in x]
        if not starts or len(ends) < n:
            return {"status": f"only {len(ends)} of {n} established in 60 s"}
        dt = max(ends) - min(starts)
        return {"status": "ok", "seconds": round(dt, 3), "per_s": round(n / dt, 1)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        nsnet.cleanup(RSP, INI)


def measure(build_dir, n=200, trials=2):
    ike_bin = os.path.join(build_dir, "control", "espgw-ike")
    out = {"n": n}
    for responder in ("espgw", "charon"):
        rates, status = [], "ok"
        for _ in range(trials):
            tmp = tempfile.mkdtemp(prefix="eir-")
            try:
                r = one_run(tmp, ike_bin, n, responder)
            except Exception as e:  # noqa: BLE001
                r = {"status": f"error: {e}"}
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            if r["status"] == "ok":
                rates.append(r["per_s"])
            else:
                status = r["status"]
        out[responder] = ({"status": "ok", "per_s": statistics.median(rates), "trials": rates} if rates
                          else {"status": status})
    return out


if __name__ == "__main__":
    bd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(measure(bd, n))

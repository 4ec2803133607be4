#!/usr/bin/python3
"""espgw-ike drops root after start-up (issue 7, "who gets in").

espgw-ike starts as root in netns epd-gw with `--user nobody:nogroup`: it opens UDP
500/4500 and its CLI socket, then switches user. The cases check /proc/PID/status (uid,
gid, no capabilities in any set, NoNewPrivs, not dumpable), that a strongSwan road
warrior (netns epd-rw) still completes IKE_SA_INIT + IKE_AUTH with a virtual IP, that
espctl (root) still reaches the CLI socket and `reload` still works, and that an unknown
user makes espgw-ike refuse to run instead of staying root. A strongSwan that fails to
start is a FAIL. Prints TESTCASE lines; exits 1 if any case failed.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import nsnet
import swan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
ESPCTL = os.path.join(BUILD, "control", "espctl")
GW, RW = "epd-gw", "epd-rw"
GW_IP, RW_IP = "10.77.3.1", "10.77.3.2"
PSK = "epd-privdrop-secret-0123456789"

result = nsnet.Results()
sh = nsnet.sh


def cleanup():
    nsnet.cleanup(GW, RW)


def setup_net():
    nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "epd")


def gw_config(tmp):
    path = os.path.join(tmp, "espgw-ike.toml")
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
control_group = "nogroup"

[pools.rw]
cidr = "10.99.33.0/24"

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "{PSK}"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.3.0/24"]
pool = "rw"
""")
    os.chmod(path, 0o644)
    return path


def swanctl_conf(rwdir):
    return swan.psk_conf(rwdir, GW_IP, "aes256gcm16-prfsha256-ecp256", "aes128gcm16", "10.78.3.0/24", PSK)


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.split()
    except OSError:
        pass
    return out


def main():
    for b in (IKE_BIN, ESPCTL):
        if not os.path.exists(b):
            result(False, "binaries", f"{b} missing: build first")
            return 1
    tmp = tempfile.mkdtemp(prefix="epd-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        setup_net()
        conf = gw_config(tmp)
        sock = os.path.join(tmp, "ike.sock")
        log = open(os.path.join(tmp, "ike.log"), "w")
        ike = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", conf, "--control-socket", sock,
                                "--user", "nobody:nogroup"], stdout=log, stderr=subprocess.STDOUT)
        procs.append(ike)
        # The namespace wrapper execs espgw-ike: its pid is ike.pid.
        st = {}
        for _ in range(100):
            st = proc_status(ike.pid)
            if st.get("Uid", ["0"])[0] != "0" or ike.poll() is not None:
                break
            time.sleep(0.05)
        nobody = sh("id -u nobody").stdout.strip()
        nogroup = sh("getent group nogroup | cut -d: -f3").stdout.strip()
        result(st.get("Uid") == [nobody] * 4 and st.get("Gid") == [nogroup] * 4, "privdrop_uid_gid",
               f"Uid {st.get('Uid')} Gid {st.get('Gid')} (want {nobody} / {nogroup}); log: "
               f"{open(os.path.join(tmp, 'ike.log')).read()[-400:]}")
        caps = {k: st.get(k, ["?"])[0] for k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
        result(all(v.strip("0") == "" for v in caps.values()), "privdrop_no_capabilities", str(caps))
        result(st.get("NoNewPrivs") == ["1"], "privdrop_no_new_privs", str(st.get("NoNewPrivs")))
        with open(os.path.join(tmp, "ike.log")) as f:
            text = f.read()
        result("running as uid" in text, "privdrop_logged", text[-300:])

        # IKE still works on the sockets opened as root.
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        cconf = swan.write_charon_conf(rwdir)
        swanctl_conf(rwdir)
        ch = swan.start_charon(RW, rwdir, cconf)
        procs.append(ch)
        if not swan.charon_ready(ch, rwdir):
            result(False, "privdrop_strongswan_connects", "strongSwan failed to start")
        else:
            swan.swanctl(RW, rwdir, f"--load-all --file {rwdir}/swanctl.conf")
            r = swan.swanctl(RW, rwdir, "--initiate --child net", timeout=30)
            ls = swan.swanctl(RW, rwdir, "--list-sas").stdout
            result("ESTABLISHED" in ls and "INSTALLED" in ls and "10.99.33." in ls, "privdrop_strongswan_connects",
                   (r.stdout + r.stderr)[-400:] + ls[-300:])
        # The CLI socket opened before the drop still answers, and reload (the config is
        # readable by the dropped user) still applies.
        q = sh(f"{ESPCTL} --ike-socket {sock} show users", check=False)
        result(q.returncode == 0 and "rw@example.com" in q.stdout, "privdrop_cli_socket",
               f"rc {q.returncode}: {q.stdout[-200:]} {q.stderr[-200:]}")
        q = sh(f"{ESPCTL} --ike-socket {sock} reload", check=False)
        result(q.returncode == 0, "privdrop_reload", f"rc {q.returncode}: {q.stdout[-200:]} {q.stderr[-200:]}")
        st2 = proc_status(ike.pid)
        result(ike.poll() is None and st2.get("Uid") == [nobody] * 4, "privdrop_still_running",
               f"exit {ike.poll()}")

        # An unknown user: refuse to run rather than keep root (ports free again first).
        ike.terminate()
        ike.wait(timeout=5)
        bad = sh(f"ip netns exec {GW} {IKE_BIN} -c {conf} --control-socket none --user no-such-user-xyz",
                 check=False, timeout=10)
        result(bad.returncode == 1 and "refusing to run" in (bad.stdout + bad.stderr), "privdrop_unknown_user_refused",
               f"rc {bad.returncode}: {(bad.stdout + bad.stderr)[-300:]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

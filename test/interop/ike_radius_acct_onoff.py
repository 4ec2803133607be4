#!/usr/bin/python3
"""espgw-ike's RADIUS accounting Accounting-On / Accounting-Off (RFC 2866 §5.1,
Acct-Status-Type 7 / 8) and the [radius] table applied by `espctl reload` (issue 6),
against two real FreeRADIUS servers.

Network namespace eiro-gw: espgw-ike (kernel sockets, listening on 192.0.2.1) and two
FreeRADIUS 3.2 servers on its loopback, A (127.0.0.1:18150/18151, secret A) and B
(18160/18161, secret B), each with its own detail file (test/interop/freeradius.py).
Cases: espgw-ike starts with A: A's detail file shows Accounting-On with our
NAS-Identifier and NAS-IP-Address, and espgw-ike logs it answered; `espctl show ike
radius` shows A and the timeout; a reload with a broken [radius] is refused with the
key named, the secret never echoed, and nothing changes; a reload with servers = B,
B's secret, another timeout and NAS-Identifier is applied without a restart (show ike
radius; B answers an Accounting-On signed with the new secret); SIGTERM: Accounting-Off
(Acct-Terminate-Cause Admin-Reboot) reaches B, not A, before espgw-ike exits 0; with no
server alive a clean stop still ends within the bounded wait and says so. The secrets
never appear in espgw-ike's log.
Prints TESTCASE lines; exits 1 if any case failed. A FreeRADIUS or espgw-ike that fails
to start is a FAIL.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import freeradius  # noqa: E402
import nsnet  # noqa: E402

wait = nsnet.wait_until
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
ESPCTL = os.path.join(BUILD, "control", "espctl")
NS = "eiro-gw"
GW_IP = "192.0.2.1"
SECRET_A = "eiro-secret-A-5d1f0c"
SECRET_B = "eiro-secret-B-93aa27"
result = nsnet.Results()


def ike_config(port, secret, timeout_s, nas, address="127.0.0.1"):
    return f"""
[ike]
listen = "{GW_IP}"

[radius]
servers = [ {{ address = "{address}", port = {port}, acct_port = {port + 1}, secret = "{secret}" }} ]
timeout_s = {timeout_s}
retries = 1
nas_identifier = "{nas}"
accounting = true
interim_s = 0

[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "eiro-psk-0123456789abcdef"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
local_ts = ["10.78.0.0/24"]
"""


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def espctl(sock, *args):
    return subprocess.run([ESPCTL, "--ike-socket", sock, *args], capture_output=True, text=True, timeout=15)


def radius_status(sock):
    p = espctl(sock, "--json", "show", "ike", "radius")
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"raw": p.stdout + p.stderr}


def start_ike(tmp, conf, name):
    log = os.path.join(tmp, f"{name}.log")
    sock = os.path.join(tmp, f"{name}.sock")
    p = subprocess.Popen(["ip", "netns", "exec", NS, IKE_BIN, "-c", conf, "--control-socket", sock],
                         stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    ok = wait(lambda: os.path.exists(sock) or p.poll() is not None, 10) and p.poll() is None
    return p, log, sock, ok


def stop_ike(p):
    """SIGTERM; returns (exit code, seconds until it exited)."""
    t0 = time.time()
    os.killpg(p.pid, signal.SIGTERM)
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        rc = p.wait()
    return rc, time.time() - t0


def run(tmp):
    nsnet.cleanup(NS)
    nsnet.sh(f"ip netns add {NS}")
    nsnet.sh(f"ip -n {NS} link set lo up")
    nsnet.sh(f"ip -n {NS} addr add {GW_IP}/32 dev lo")
    srv_a = freeradius.FreeRadius([], secret=SECRET_A, auth_port=18150, netns=NS,
                                  workdir=os.path.join(tmp, "raddb-a"))
    srv_b = freeradius.FreeRadius([], secret=SECRET_B, auth_port=18160, netns=NS,
                                  workdir=os.path.join(tmp, "raddb-b"))
    servers = [srv_a, srv_b]
    try:
        for s, name in ((srv_a, "a"), (srv_b, "b")):
            try:
                s.start()
            except RuntimeError as e:
                result(False, f"freeradius_{name}_started", str(e))
                return
        result(True, "freeradius_a_and_b_started")

        conf = os.path.join(tmp, "ike.toml")
        with open(conf, "w") as f:
            f.write(ike_config(18150, SECRET_A, 2, "eiro-gw"))
        ike, log, sock, ok = start_ike(tmp, conf, "ike")
        if not ok:
            result(False, "espgw_ike_start", text(log)[-500:])
            return

        # Accounting-On at start.
        on_a = wait(lambda: srv_a.acct_records("Accounting-On"), 5)
        rec = on_a[0] if on_a else {}
        answered = wait(lambda: "Accounting-On of NAS eiro-gw answered by 127.0.0.1:18151" in text(log), 3)
        result(len(on_a) == 1 and rec.get("NAS-Identifier") == "eiro-gw" and rec.get("NAS-IP-Address") == GW_IP
               and "User-Name" not in rec and bool(answered), "accounting_on_at_start",
               f"A's records {srv_a.acct_records()}; log {text(log)[-300:]}")
        st = radius_status(sock)
        result(st.get("servers") == "127.0.0.1:18150/18151" and st.get("timeout_s") == 2 and
               st.get("acct_ons") == 1 and st.get("acct_answered", 0) >= 1, "show_ike_radius_counts_accounting_on",
               str(st))

        # A broken [radius] is refused; nothing changes.
        with open(conf, "w") as f:
            f.write(ike_config(18160, SECRET_B, 7, "eiro-gw2", address="radius.example.com"))
        p = espctl(sock, "reload")
        st = radius_status(sock)
        result(p.returncode != 0 and "radius.servers[0].address" in p.stderr and SECRET_B not in p.stderr and
               st.get("servers") == "127.0.0.1:18150/18151", "reload_broken_radius_refused_running_kept",
               f"rc {p.returncode}: {(p.stdout + p.stderr).strip()[:200]} / {st.get('servers')}")

        # Servers, secret, timeout and NAS-Identifier changed: applied by reload.
        with open(conf, "w") as f:
            f.write(ike_config(18160, SECRET_B, 7, "eiro-gw2"))
        p = espctl(sock, "reload")
        st = radius_status(sock)
        result(p.returncode == 0 and st.get("servers") == "127.0.0.1:18160/18161" and st.get("timeout_s") == 7 and
               st.get("nas_identifier") == "eiro-gw2", "reload_applies_radius_servers_secret_timeout",
               f"rc {p.returncode}: {(p.stdout + p.stderr).strip()[:200]} / {st}")
        on_b = wait(lambda: srv_b.acct_records("Accounting-On"), 5)
        answered = wait(lambda: "Accounting-On of NAS eiro-gw2 answered by 127.0.0.1:18161" in text(log), 3)
        result(len(on_b) == 1 and on_b[0].get("NAS-Identifier") == "eiro-gw2" and bool(answered),
               "new_server_answers_accounting_on_signed_with_new_secret",
               f"B's records {srv_b.acct_records()}; log {text(log)[-300:]}")

        # Clean stop: Accounting-Off to the server in use, answered before the exit.
        rc, took = stop_ike(ike)
        off_b = srv_b.acct_records("Accounting-Off")
        off_a = srv_a.acct_records("Accounting-Off")
        lg = text(log)
        result(rc == 0 and len(off_b) == 1 and not off_a and off_b[0].get("NAS-Identifier") == "eiro-gw2" and
               off_b[0].get("Acct-Terminate-Cause") == "Admin-Reboot" and
               "Accounting-Off of NAS eiro-gw2 answered by 127.0.0.1:18161" in lg,
               "accounting_off_at_clean_stop",
               f"rc {rc} in {took:.1f}s; B {srv_b.acct_records()}; A Off {off_a}; log {lg[-300:]}")
        print(f"clean stop with Accounting-Off answered: {took:.2f} s", flush=True)
        result(SECRET_A not in lg and SECRET_B not in lg, "no_secret_in_log", "a RADIUS secret is in the log")

        # No server alive: the stop is bounded (3 s wait for Accounting-Off) and logged.
        for s in servers:
            s.stop()
        with open(conf, "w") as f:
            f.write(ike_config(18150, SECRET_A, 10, "eiro-gw"))  # the client would try for 10 s
        ike, log2, sock2, ok = start_ike(tmp, conf, "ike2")
        if not ok:
            result(False, "espgw_ike_restart", text(log2)[-500:])
            return
        time.sleep(0.3)
        rc, took = stop_ike(ike)
        lg = text(log2)
        result(rc == 0 and 2.5 < took < 6 and "unanswered after 3000 ms" in lg, "accounting_off_unanswered_stop_is_bounded",
               f"rc {rc} in {took:.1f}s; log {lg[-300:]}")
    finally:
        for s in servers:
            s.stop()


def main():
    if os.geteuid() != 0:
        result(False, "ike_radius_acct_onoff_setup", "needs root")
        sys.exit(1)
    for b in (IKE_BIN, ESPCTL):
        if not os.access(b, os.X_OK):
            result(False, "ike_radius_acct_onoff_setup", f"{b} not built")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="eiro-")
    try:
        run(tmp)
    except Exception as e:  # noqa: BLE001 - a broken test bed is a failure
        result(False, "ike_radius_acct_onoff_testbed", repr(e))
    finally:
        nsnet.cleanup(NS)
        if os.environ.get("EIRO_KEEP"):
            print(f"logs: {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if result.failed else 0)


if __name__ == "__main__":
    main()

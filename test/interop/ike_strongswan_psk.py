#!/usr/bin/python3
"""espgw-ike as IKEv2 responder against a strongSwan 5.9 road warrior (PSK, virtual IP).

Topology: netns eikl-gw (espgw-ike on 10.77.0.1, plain UDP 500/4500) and netns eikl-rw
(charon with kernel-libipsec, 10.77.0.2), joined by a veth pair. For each proposal
pair strongSwan initiates IKE_SA_INIT + IKE_AUTH with a CP request; the case passes
when `swanctl --list-sas` shows the IKE SA ESTABLISHED with the expected algorithms,
the CHILD_SA INSTALLED with a virtual IP from espgw-ike's pool, and espgw-ike's SA
output (JSON lines) has the same SPIs (ours in = theirs out). A strongSwan that fails
to start is a FAIL. Prints TESTCASE lines; exits 1 if any case failed.

Then the IKE SA lifecycle (RFC 7296 §1.3, §1.4, §2.4, §2.8), with short timers:
strongSwan rekeys the CHILD_SA (with PFS) and the IKE SA, its liveness checks are
answered, it deletes a CHILD_SA and an IKE SA; espgw-ike (restarted with its own short
rekey_time / life_time) rekeys a CHILD_SA and deletes one at its hard lifetime, and
clears a strongSwan that was killed (DPD action clear). New SPIs must agree on both
sides (swanctl --list-sas against espgw-ike's SA output).
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

import nsnet
import swan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
GW, RW = "eikl-gw", "eikl-rw"
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

result = nsnet.Results()
sh = nsnet.sh


def cleanup():
    nsnet.cleanup(GW, RW)


def setup_net():
    nsnet.veth_pair(GW, RW, GW_IP, RW_IP, "eikl")


# espgw-ike timers for the DPD-clear case: a liveness check after 2 s of silence,
# retransmissions after 0.5 s, 0.75 s, 1.1 s: a dead peer is cleared within ~5 s.
GW_TIMERS = """dpd_delay = 2
retransmit_timeout = 0.5
retransmit_base = 1.5
retransmit_tries = 2
"""
# For every other case: espgw-ike's own liveness checks stay out of the way (a loaded
# 2-core machine can delay an answer past the short timers above, and the cases that
# watch strongSwan's DPD or rekeys must not race a DPD clear of ours).
GW_TIMERS_RELAXED = """dpd_delay = 30
retransmit_timeout = 2.0
retransmit_base = 1.8
retransmit_tries = 4
"""


def write_gw_config(tmp, sa_out, extra="", timers=GW_TIMERS_RELAXED):
    path = os.path.join(tmp, "espgw-ike.toml")
    props = ", ".join(f'"{c[1]}"' for c in CASES)
    esp = '"aes128gcm16-ecp256", "aes256gcm16", "aes128gcm16", "aes128-sha256"'
    with open(path, "w") as f:
        f.write(f"""[ike]
listen = "{GW_IP}"
sa_output = "{sa_out}"
{timers}{extra}

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
    return swan.write_charon_conf(rwdir, retransmit_tries=2)


def write_swanctl(rwdir, ike, esp, conn_extra="", child_extra=""):
    path = os.path.join(rwdir, "swanctl.conf")
    with open(path, "w") as f:
        f.write(f"""connections {{
  gw {{
    version = 2
    remote_addrs = {GW_IP}
    vips = 0.0.0.0
    proposals = {ike}
    mobike = no
    {conn_extra}
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
        {child_extra}
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


def read_events(sa_out):
    out = []
    if os.path.exists(sa_out):
        with open(sa_out) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    return out


def read_sas(sa_out):
    return [ev["sa"] for ev in read_events(sa_out) if ev.get("event") == "install"]


def removed_pairs(sa_out):
    return {(ev["spi_in"], ev["spi_out"]) for ev in read_events(sa_out) if ev.get("event") == "remove"}


def swan_state(ls):
    """IKE SPIs (i, r), CHILD SPIs (in, out) of strongSwan's first SAs, or None."""
    ike = re.search(r"ESTABLISHED, IKEv2, ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r", ls)
    m_in = re.search(r"^\s+in\s+([0-9a-f]{8})", ls, re.M)
    m_out = re.search(r"^\s+out\s+([0-9a-f]{8})", ls, re.M)
    return (ike.groups() if ike else None,
            (m_in.group(1), m_out.group(1)) if m_in and m_out and "INSTALLED" in ls else None)


def poll(fn, timeout, step=0.2):
    end = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def start_gw(tmp, tag, extra="", timers=GW_TIMERS_RELAXED):
    sa_out = os.path.join(tmp, f"sas-{tag}.jsonl")
    log_path = os.path.join(tmp, f"espgw-ike-{tag}.log")
    proc = subprocess.Popen(["ip", "netns", "exec", GW, IKE_BIN, "-c", write_gw_config(tmp, sa_out, extra, timers)],
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    time.sleep(0.2)
    return proc, sa_out, log_path


def stop(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def file_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class Ctx:
    """One strongSwan and the running espgw-ike."""

    def __init__(self, rwdir):
        self.rwdir = rwdir
        self.gw = self.sa_out = self.gw_log = None

    def state(self):
        return swan_state(swanctl(self.rwdir, "--list-sas").stdout)

    def establish(self, ike="aes256gcm16-prfsha256-ecp256", esp="aes128gcm16-ecp256", conn_extra="", child_extra=""):
        swconf = write_swanctl(self.rwdir, ike, esp, conn_extra, child_extra)
        r = swanctl(self.rwdir, f"--load-all --noprompt --file {swconf}")
        if r.returncode != 0:
            return None, f"swanctl --load-all failed: {r.stderr.strip()[:200]}"
        r = swanctl(self.rwdir, "--initiate --child net --timeout 10")
        if r.returncode != 0:
            return None, "initiate failed: " + " | ".join(r.stdout.strip().splitlines()[-3:])
        ike_spis, child = self.state()
        if not ike_spis or not child:
            return None, "IKE SA / CHILD_SA not established"
        return (ike_spis, child), ""

    def terminate(self):
        swanctl(self.rwdir, "--terminate --ike gw --timeout 3")
        time.sleep(0.1)

    def new_child(self, old_in, timeout):
        """strongSwan's CHILD_SA once the pair with inbound SPI old_in is gone from its list."""
        def f():
            ls = swanctl(self.rwdir, "--list-sas").stdout
            st = swan_state(ls)[1]
            return st if st and old_in not in ls else None
        return poll(f, timeout)

    def espgw_has(self, swan_child):
        """espgw-ike's SA output has the pair strongSwan shows (ours in = theirs out)."""
        s_in, s_out = swan_child
        return any(sa["spi_in"] == s_out and sa["spi_out"] == s_in for sa in read_sas(self.sa_out))

    def removed(self, swan_child, timeout=3):
        s_in, s_out = swan_child
        return poll(lambda: (s_out, s_in) in removed_pairs(self.sa_out), timeout)


def case_espgw_child_rekey(c):
    # espgw-ike runs with rekey_time = 3: it rekeys (CREATE_CHILD_SA with PFS) and then
    # deletes the old pair.
    st, why = c.establish()
    if why:
        return why
    old = st[1]
    new = c.new_child(old[0], 8)
    if not new:
        return "strongSwan still has the first CHILD_SA after 8 s: espgw-ike did not rekey it"
    if not c.espgw_has(new):
        return f"espgw-ike SA output lacks the new pair {new}"
    if not c.removed(old):
        return "espgw-ike did not remove the old pair after its Delete"
    if "rekeyed to" not in file_text(c.gw_log) or "with PFS" not in file_text(c.gw_log):
        return "espgw-ike log has no PFS rekey line"
    return ""


def case_espgw_child_hard_lifetime(c):
    # espgw-ike runs with life_time = 3 and no rekey: it deletes the CHILD_SA.
    st, why = c.establish()
    if why:
        return why
    if not poll(lambda: (lambda s: s[0] and not s[1])(c.state()), 7):
        return "strongSwan still has the CHILD_SA 7 s after espgw-ike's hard lifetime of 3 s"
    if not c.removed(st[1]):
        return "espgw-ike did not remove the pair"
    return ""


def case_swan_child_rekey(c):
    st, why = c.establish(child_extra="rekey_time = 3s\n        life_time = 60s\n        rand_time = 0")
    if why:
        return why
    old = st[1]
    new = c.new_child(old[0], 8)
    if not new:
        return "strongSwan did not rekey the CHILD_SA within 8 s"
    if not c.espgw_has(new):
        return f"espgw-ike SA output lacks the new pair {new}"
    if not c.removed(old):
        return "espgw-ike did not remove the old pair after strongSwan's Delete"
    if "with PFS" not in file_text(c.gw_log):
        return "rekey without PFS (KE) on espgw-ike's side"
    return ""


def case_swan_ike_rekey(c):
    st, why = c.establish(conn_extra="rekey_time = 3s\n    over_time = 60s\n    rand_time = 0")
    if why:
        return why
    (ike0, child0) = st
    before = file_text(c.gw_log).count("IKE SA deleted by peer")
    ike1 = poll(lambda: (lambda s: s[0] if s[0] and s[0] != ike0 else None)(c.state()), 8)
    if not ike1:
        return "strongSwan did not rekey the IKE SA within 8 s"
    if ike1[0] == ike0[0] or ike1[1] == ike0[1]:
        return f"IKE SPIs not both new: {ike0} -> {ike1}"
    if c.state()[1] != child0:
        return "the CHILD_SA did not survive the IKE rekey"
    if "IKE SA rekeyed by peer" not in file_text(c.gw_log):
        return "espgw-ike log has no IKE rekey"
    if not poll(lambda: file_text(c.gw_log).count("IKE SA deleted by peer") > before, 3):
        return "strongSwan's Delete of the old IKE SA not seen by espgw-ike"
    if c.removed(child0, 0.5):
        return "espgw-ike removed the CHILD_SA with the old IKE SA"
    # A CHILD rekey over the new IKE SA proves its keys (SK_d, SK_e/a) agree.
    swanctl(c.rwdir, "--rekey --child net")
    new = c.new_child(child0[0], 5)
    if not new or not c.espgw_has(new):
        return f"CHILD_SA rekey over the new IKE SA failed ({new})"
    return ""


def case_swan_dpd(c):
    st, why = c.establish(conn_extra="dpd_delay = 1s")
    if why:
        return why
    log = os.path.join(c.rwdir, "charon.log")
    n0 = len(re.findall(r"parsed INFORMATIONAL response \d+ \[ \]", file_text(log)))
    time.sleep(3.5)
    text = file_text(log)
    n1 = len(re.findall(r"parsed INFORMATIONAL response \d+ \[ \]", text))
    if "sending DPD request" not in text:
        return "strongSwan sent no DPD request"
    if n1 <= n0:
        return "no answer to strongSwan's DPD requests"
    if c.state()[0] != st[0]:
        return "IKE SA gone after DPD"
    return ""


def case_swan_delete_child(c):
    st, why = c.establish()
    if why:
        return why
    swanctl(c.rwdir, "--terminate --child net --timeout 5")
    if not c.removed(st[1]):
        return "espgw-ike did not remove the pair strongSwan deleted"
    if c.state()[0] != st[0]:
        return "IKE SA did not survive the CHILD_SA delete"
    return ""


def case_swan_delete_ike(c):
    st, why = c.establish()
    if why:
        return why
    before = file_text(c.gw_log).count("IKE SA deleted by peer")
    swanctl(c.rwdir, "--terminate --ike gw --timeout 5")
    if not c.removed(st[1]):
        return "espgw-ike did not remove the CHILD_SA of the deleted IKE SA"
    if file_text(c.gw_log).count("IKE SA deleted by peer") <= before:
        return "espgw-ike log has no IKE SA delete"
    return ""


def case_espgw_dpd_clears_dead_peer(c, charon):
    st, why = c.establish()
    if why:
        return why
    charon.kill()
    charon.wait()
    if not poll(lambda: "peer is dead" in file_text(c.gw_log), 9):
        return "espgw-ike did not declare the killed peer dead within 9 s"
    if not c.removed(st[1]):
        return "espgw-ike did not remove the dead peer's CHILD_SA"
    return ""


def run_lifecycle(c, tmp, name, fn, *args):
    try:
        why = fn(c, *args)
    except subprocess.TimeoutExpired as e:
        why = f"timeout: {e.cmd}"
    if why and os.environ.get("EIKE_DEBUG"):
        print(swanctl(c.rwdir, "--list-sas").stdout, file=sys.stderr)
    result(not why, name, why)
    c.terminate()


def main():
    if os.geteuid() != 0:
        result(False, "ike_strongswan_setup", "needs root for network namespaces")
        return
    if not os.access(IKE_BIN, os.X_OK):
        result(False, "ike_strongswan_setup", f"{IKE_BIN} not built")
        return
    tmp = tempfile.mkdtemp(prefix="eikl-")
    gw_proc = charon = None
    try:
        setup_net()
        gw_proc, sa_out, gw_log_path = start_gw(tmp, "proposals")
        rwdir = os.path.join(tmp, "rw")
        os.makedirs(rwdir)
        conf = write_charon_conf(rwdir)
        charon = swan.start_charon(RW, rwdir, conf)
        if not swan.charon_ready(charon, rwdir):
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
        ctx = Ctx(rwdir)
        ctx.gw, ctx.sa_out, ctx.gw_log = gw_proc, sa_out, gw_log_path
        for name, fn in (("swan_rekeys_child_pfs", case_swan_child_rekey),
                         ("swan_rekeys_ike_sa", case_swan_ike_rekey),
                         ("swan_dpd_answered", case_swan_dpd),
                         ("swan_deletes_child", case_swan_delete_child),
                         ("swan_deletes_ike_sa", case_swan_delete_ike)):
            run_lifecycle(ctx, tmp, name, fn)
        # espgw-ike's own timers: restarted with short rekey / hard lifetimes.
        for tag, extra, name, fn in (("rekey", "rekey_time = 3\nlife_time = 60\n", "espgw_rekeys_child_pfs",
                                      case_espgw_child_rekey),
                                     ("hard", "rekey_time = 0\nlife_time = 3\n", "espgw_deletes_child_at_hard_lifetime",
                                      case_espgw_child_hard_lifetime),
                                     ("dpd", "", "espgw_dpd_clears_killed_peer", case_espgw_dpd_clears_dead_peer)):
            stop(ctx.gw)
            gw_proc, ctx.sa_out, ctx.gw_log = start_gw(tmp, tag, extra,
                                                       GW_TIMERS if tag == "dpd" else GW_TIMERS_RELAXED)
            ctx.gw = gw_proc
            if ctx.gw.poll() is not None:
                result(False, name, f"espgw-ike exited (rc {ctx.gw.returncode})")
                continue
            if fn is case_espgw_dpd_clears_dead_peer:
                run_lifecycle(ctx, tmp, name, fn, charon)
            else:
                run_lifecycle(ctx, tmp, name, fn)
    except subprocess.CalledProcessError as e:
        result(False, "ike_strongswan_setup", f"{e.cmd}: {e.stderr.strip()[:200]}")
    finally:
        for p in (charon, gw_proc):
            stop(p)
        cleanup()
        if os.environ.get("EIKE_KEEP"):
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if result.failed else 0)

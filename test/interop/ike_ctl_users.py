#!/usr/bin/python3
"""`espctl user ...` against a running espgw-ike (issue 6: local user database; issue 7:
atomic writes, secrets never in files, output or logs).

espgw-ike runs standalone (kernel UDP sockets, no dataplane) in netns h3-users with
[ike] users_file and a control socket. Cases: users are added (password from stdin,
real name with spaces and UTF-8, e-mail, static IP, groups), listed and shown (--json
parsed; never a hash), their password changed, disabled and enabled, changed with `user
set`, deleted; the users file and key file are mode 0600, the file holds PBKDF2 hashes
and sealed NT hashes but no password; everything survives a restart of espgw-ike; a
broken users file at `reload` is refused and the running database stays; a wrong key
file makes espgw-ike refuse to start naming the user and the key; CLI errors (bad IP,
unknown user, static IP inside a pool, duplicate, password on argv, no password, daemon
down) give the documented exit codes; the log never holds a password; after
`--user nobody:nogroup` users are still added and reloaded (the key kept in memory).

Prints TESTCASE lines; exits 1 if any case failed. A daemon that fails to start is a FAIL.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nsnet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
IKE_BIN = os.path.join(BUILD, "control", "espgw-ike")
ESPCTL = os.path.join(BUILD, "control", "espctl")
NS = "h3-users"

PW_ALICE = "Corr3ct horse bättery"
PW_ALICE2 = "n3w-s3cret-for-alice"
PW_BOB = "bob's-pa$$word"

result = nsnet.Results()
sh = nsnet.sh


class Daemon:
    def __init__(self, tmp, extra=()):
        self.tmp = tmp
        self.extra = list(extra)
        self.conf = os.path.join(tmp, "espgw-ike.toml")
        self.sock = os.path.join(tmp, "ike.sock")
        self.users = os.path.join(tmp, "users.toml")
        self.key = os.path.join(tmp, "users.key")
        self.log = os.path.join(tmp, "ike.log")
        self.proc = None
        with open(self.conf, "w") as f:
            f.write(f"""[ike]
listen = "127.0.0.1"
users_file = "{self.users}"
users_key_file = "{self.key}"

[pools.rw]
cidr = "10.99.44.0/24"

[[connections]]
name = "rw"
local_id = "gw.example.com"
psk = "h3-users-secret-0123456789"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
pool = "rw"
""")

    def start(self):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS, IKE_BIN, "-c", self.conf, "--control-socket",
                                      self.sock] + self.extra, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        for _ in range(100):
            if self.proc.poll() is not None:
                return False
            if os.path.exists(self.sock) and ctl("user", "list")[0] == 0:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


D = None


def ctl(*args, stdin=None, json_out=False):
    """(exit code, stdout, stderr) of espctl against the daemon's socket."""
    cmd = [ESPCTL, "--ike-socket", D.sock] + (["--json"] if json_out else []) + list(args)
    p = subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def users_json():
    rc, out, err = ctl("user", "list", json_out=True)
    if rc != 0:
        raise RuntimeError(f"user list: rc {rc}: {err}")
    return {u["name"]: u for u in json.loads(out)}


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def mode(path):
    return os.stat(path).st_mode & 0o777


def case(name, fn):
    try:
        ok, why = fn()
    except Exception as e:  # noqa: BLE001 - a crash of the case is its failure
        ok, why = False, f"{type(e).__name__}: {e}"
    result(ok, name, why)


def run_cases():
    # --- add, list, show ---
    def add_and_list():
        rc, out, err = ctl("user", "add", "alice", "--real-name", "Alice Émile Example", "--email",
                           "alice@example.com", "--static-ip", "10.98.0.5", "--groups", "staff,vpn-admins",
                           "--password-stdin", stdin=PW_ALICE + "\n")
        if rc != 0:
            return False, f"add alice: rc {rc}: {err}"
        rc, out, err = ctl("user", "add", "bob", "--password-stdin", "--disabled", stdin=PW_BOB)
        if rc != 0:
            return False, f"add bob: rc {rc}: {err}"
        u = users_json()
        want = {"name": "alice", "real_name": "Alice Émile Example", "email": "alice@example.com",
                "static_ip": "10.98.0.5", "groups": "staff,vpn-admins", "enabled": True, "mschapv2": True}
        if u.get("alice") != want:
            return False, f"alice listed as {u.get('alice')}"
        if u.get("bob", {}).get("enabled") is not False or u["bob"]["static_ip"] is not None:
            return False, f"bob listed as {u.get('bob')}"
        return True, ""
    case("user_add_and_list", add_and_list)

    def show_without_hashes():
        rc, human, err = ctl("user", "show", "alice")
        rc2, listing, _ = ctl("user", "list")
        rc3, js, _ = ctl("user", "list", json_out=True)
        if rc or rc2 or rc3:
            return False, f"rc {rc}/{rc2}/{rc3}: {err}"
        if "Alice Émile Example" not in human or "10.98.0.5" not in human:
            return False, f"show: {human!r}"
        if "alice" not in listing or "bob" not in listing:
            return False, f"list: {listing!r}"
        for text in (human, listing, js):
            if "pbkdf2" in text or "aes256gcm" in text or PW_ALICE in text:
                return False, "a hash or password in CLI output"
        return True, ""
    case("user_show_never_prints_hashes", show_without_hashes)

    def file_has_no_plaintext():
        text = read(D.users)
        raw = open(D.users, "rb").read()
        if mode(D.users) != 0o600 or mode(D.key) != 0o600:
            return False, f"modes {oct(mode(D.users))} {oct(mode(D.key))}"
        if PW_ALICE.encode() in raw or PW_BOB.encode() in raw or PW_ALICE.encode("utf-16-le") in raw:
            return False, "a password in the users file"
        if text.count("pbkdf2-sha256$100000$") != 2 or text.count("aes256gcm$") != 2:
            return False, f"expected 2 PBKDF2 hashes and 2 sealed NT hashes:\n{text}"
        if os.path.exists(D.users + ".tmp"):
            return False, "temporary file left behind"
        return True, ""
    case("users_file_0600_no_plaintext", file_has_no_plaintext)

    # --- passwd, disable/enable, set ---
    def passwd():
        before = read(D.users)
        old_line = [l for l in before.splitlines() if l.startswith("password")][0]
        rc, out, err = ctl("user", "passwd", "alice", "--password-stdin", stdin=PW_ALICE2 + "\n")
        if rc != 0:
            return False, f"rc {rc}: {err}"
        after = read(D.users)
        if old_line in after or PW_ALICE2 in after:
            return False, "old hash still there or new password in plaintext"
        if users_json()["alice"]["static_ip"] != "10.98.0.5":
            return False, "passwd changed other attributes"
        return True, ""
    case("user_passwd", passwd)

    def disable_enable_set():
        if ctl("user", "disable", "alice")[0] != 0 or users_json()["alice"]["enabled"] is not False:
            return False, "disable"
        if "enabled = false" not in read(D.users).split('[users."alice"]')[1].split("[users.")[0]:
            return False, "disable not saved"
        if ctl("user", "enable", "alice")[0] != 0 or users_json()["alice"]["enabled"] is not True:
            return False, "enable"
        rc, _, err = ctl("user", "set", "bob", "--groups", "ops", "--static-ip", "10.98.0.9", "--enabled")
        u = users_json()["bob"]
        if rc != 0 or u["groups"] != "ops" or u["static_ip"] != "10.98.0.9" or not u["enabled"]:
            return False, f"set: rc {rc} {err} {u}"
        return True, ""
    case("user_disable_enable_set", disable_enable_set)

    # --- CLI errors and exit codes ---
    def errors():
        checks = [
            # (args, stdin, exit code, text in stderr)
            (("user", "add", "carol", "--static-ip", "10.1.2.300", "--password-stdin"), "pw", 2, "not an IPv4"),
            (("user", "add", "carol", "--static-ip", "224.0.0.1", "--password-stdin"), "pw", 2, "unicast"),
            (("user", "add", "carol", "--static-ip", "10.99.44.7", "--password-stdin"), "pw", 1,
             "user carol: static_ip 10.99.44.7 lies inside pool rw"),
            (("user", "passwd", "nobody", "--password-stdin"), "pw", 1, "no user named"),
            (("user", "show", "nobody"), None, 1, "no user named"),
            (("user", "del", "nobody"), None, 1, "no user named"),
            (("user", "add", "alice", "--password-stdin"), "pw", 1, "exists"),
            (("user", "add", "carol", "--email", "alice@EXAMPLE.com", "--password-stdin"), "pw", 1,
             "used by user alice"),
            (("user", "add", "carol", "--email", "not-an-email", "--password-stdin"), "pw", 2, "e-mail"),
            (("user", "add", "car ol", "--password-stdin"), "pw", 2, "user name"),
            (("user", "add", "carol", "--password", "hunter2"), None, 2, "never taken from the command line"),
            (("user", "add", "carol"), None, 2, "needs a password"),  # stdin is no terminal
            (("user", "add", "carol", "--password-stdin"), "", 2, "empty password"),
            (("user", "frob", "carol"), None, 2, "unknown command"),
            (("user", "add", "carol", "--colour", "red", "--password-stdin"), "pw", 2, "unexpected argument"),
        ]
        for args, stdin, want_rc, want_text in checks:
            rc, out, err = ctl(*args, stdin=stdin)
            if rc != want_rc or want_text not in err:
                return False, f"{' '.join(args)}: rc {rc} (want {want_rc}), stderr {err.strip()!r}"
        if "carol" in users_json():
            return False, "carol was created by a failing command"
        return True, ""
    case("user_cli_errors_exit_codes", errors)

    # --- restart, reload ---
    def survives_restart():
        before_list = users_json()
        before_file = read(D.users)
        D.stop()
        if not D.start():
            return False, "espgw-ike did not restart"
        if users_json() != before_list:
            return False, f"after restart: {users_json()} != {before_list}"
        if read(D.users) != before_file:
            return False, "the users file changed on restart"
        return True, ""
    case("users_survive_restart", survives_restart)

    def broken_reload():
        good = read(D.users)
        with open(D.users, "a") as f:
            f.write('\n[users."mallory"]\nenabled = "perhaps"\n')
        rc, out, err = ctl("reload")
        if rc != 1 or "user database refused" not in err or "mallory" not in err:
            return False, f"broken file: rc {rc} {err.strip()!r}"
        u = users_json()
        if set(u) != {"alice", "bob"}:
            return False, f"running database changed: {sorted(u)}"
        # A static IP inside a pool, written by hand, is refused naming the user.
        with open(D.users, "w") as f:
            f.write(good.replace('static_ip = "10.98.0.9"', 'static_ip = "10.99.44.200"'))
        rc, out, err = ctl("reload")
        if rc != 1 or "user bob: static_ip 10.99.44.200 lies inside pool rw" not in err:
            return False, f"static IP in pool: rc {rc} {err.strip()!r}"
        # The good file (bob removed by hand) reloads.
        with open(D.users, "w") as f:
            f.write(good.split('[users."bob"]')[0])
        rc, out, err = ctl("reload")
        if rc != 0 or set(users_json()) != {"alice"}:
            return False, f"good file: rc {rc} {err.strip()!r} {sorted(users_json())}"
        with open(D.users, "w") as f:
            f.write(good)
        rc, out, err = ctl("reload")
        return rc == 0 and set(users_json()) == {"alice", "bob"}, f"restore: rc {rc} {err.strip()!r}"
    case("reload_broken_users_file_refused", broken_reload)

    def delete():
        rc, out, err = ctl("user", "del", "bob")
        if rc != 0 or "bob" in users_json() or '"bob"' in read(D.users):
            return False, f"rc {rc} {err}"
        return True, ""
    case("user_del", delete)

    def wrong_key_refused():
        D.stop()
        shutil.copy(D.key, D.key + ".good")
        os.unlink(D.key)
        ok = D.start()
        D.stop()
        log = read(D.log)
        os.replace(D.key + ".good", D.key)
        if ok:
            return False, "espgw-ike started with a new key file"
        if "user alice: nt_hash" not in log or D.key not in log:
            return False, f"log: {log.strip().splitlines()[-1]!r}"
        if not D.start():
            return False, "did not start again with the right key"
        return True, ""
    case("wrong_key_file_refused", wrong_key_refused)

    def unreachable():
        D.stop()
        rc, _, err = ctl("user", "list")
        ok = rc == 3
        D.start()
        return ok, f"rc {rc} {err.strip()!r}"
    case("daemon_down_exit_3", unreachable)

    def log_clean():
        log = read(D.log)
        for pw in (PW_ALICE, PW_ALICE2, PW_BOB, "hunter2"):
            if pw in log:
                return False, "a password in the log"
        if "CLI: user add alice" not in log:
            return False, "user changes are not logged"
        return True, ""
    case("log_has_no_passwords", log_clean)

    def after_privdrop():
        # espgw-ike --user nobody: the users file's directory belongs to that user; the key
        # file (root, 0600) is read before the drop and its key kept for reloads.
        global D
        main_d = D
        main_d.stop()
        tmp2 = tempfile.mkdtemp(prefix="h3-users-drop-")
        try:
            os.chown(tmp2, 65534, 65534)
            os.chmod(tmp2, 0o755)
            D = Daemon(tmp2, ["--user", "nobody:nogroup"])
            if not D.start():
                return False, f"did not start: {read(D.log)[-300:]}"
            rc, _, err = ctl("user", "add", "dora", "--groups", "ops", "--password-stdin", stdin="dora-pw\n")
            if rc != 0:
                return False, f"add after the drop: rc {rc} {err.strip()!r}"
            st = os.stat(D.users)
            if st.st_uid != 65534 or mode(D.users) != 0o600:
                return False, f"users file uid {st.st_uid} mode {oct(mode(D.users))}"
            rc, _, err = ctl("reload")
            if rc != 0 or set(users_json()) != {"dora"}:
                return False, f"reload after the drop (key file unreadable now): rc {rc} {err.strip()!r}"
            return True, ""
        finally:
            D.stop()
            D = main_d
            shutil.rmtree(tmp2, ignore_errors=True)
    case("users_managed_after_privilege_drop", after_privdrop)


def main():
    global D
    for b in (IKE_BIN, ESPCTL):
        if not os.path.exists(b):
            result(False, "build", f"{b} missing")
            return 1
    nsnet.cleanup(NS)
    sh(f"ip netns add {NS}")
    sh(f"ip -n {NS} link set lo up")
    tmp = tempfile.mkdtemp(prefix="h3-users-")
    D = Daemon(tmp)
    try:
        started = D.start()
        result(started, "espgw_ike_starts_with_users_file", f"log: {read(D.log)[-500:]}" if not started else "")
        if started:
            result(mode(D.key) == 0o600 and len(read(D.key).strip()) == 64, "key_file_created_0600",
                   f"mode {oct(mode(D.key))}")
            run_cases()
    finally:
        D.stop()
        nsnet.cleanup(NS)
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""FreeRADIUS 3.2 for the interop tests: a minimal raddb in a temporary directory,
one server process in the foreground (`freeradius -f -X -d DIR`), listening on
loopback (or an address given) at non-default ports, optionally inside a network
namespace.

What the raddb holds:
  - clients.conf: one client (127.0.0.0/8 or the given network) with the test secret;
  - eap with md5, gtc (PAP against the users file: the GTC challenge text asks for the
    one-time password) and mschapv2 (no TLS);
  - files/users: the callers' users (user name, Cleartext-Password, reply attributes
    such as Framed-IP-Address, Class, Filter-Id, Reply-Message);
  - accounting and post-auth written by the detail module to DIR/detail, which the
    tests read (detail_records()).
A server that does not start (config error, port in use) raises RuntimeError: the
caller reports it as a FAIL.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

FREERADIUS = "/usr/sbin/freeradius"


class FreeRadius:
    def __init__(self, users, secret="testing123-radius", auth_port=18120, ipaddr="127.0.0.1",
                 clients="127.0.0.0/8", netns=None, gtc_challenge="Enter your one-time password",
                 workdir=None):
        """`users`: list of dicts {name, password, reply: [(attr, value)...], check: [...]}."""
        self.secret = secret
        self.auth_port = auth_port
        self.acct_port = auth_port + 1
        self.ipaddr = ipaddr
        self.netns = netns
        self.dir = workdir or tempfile.mkdtemp(prefix="h2-raddb-")
        self.proc = None
        self._write(users, clients, gtc_challenge)

    # -- configuration -------------------------------------------------------------
    def _write(self, users, clients, gtc_challenge):
        d = self.dir
        for sub in ("log", "run", "radacct", "mods-config"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "radiusd.conf"), "w") as f:
            f.write(f"""
prefix = /usr
exec_prefix = /usr
sysconfdir = {d}
localstatedir = {d}
sbindir = /usr/sbin
logdir = {d}/log
raddbdir = {d}
radacctdir = {d}/radacct
name = freeradius
confdir = {d}
modconfdir = {d}/mods-config
certdir = {d}
cadir = {d}
run_dir = {d}/run
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/run/freeradius.pid
max_request_time = 30
cleanup_delay = 2
max_requests = 1024
hostname_lookups = no
log {{
  destination = files
  file = {d}/log/radius.log
  auth = yes
  auth_badpass = no
  auth_goodpass = no
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
thread pool {{
  start_servers = 1
  max_servers = 2
  min_spare_servers = 1
  max_spare_servers = 2
  max_requests_per_server = 0
}}
$INCLUDE clients.conf
modules {{
  files {{
    filename = {d}/users
    acctusersfile = {d}/acct_users
    preproxy_usersfile = {d}/preproxy_users
  }}
  pap {{
  }}
  mschap {{
  }}
  eap {{
    default_eap_type = md5
    timer_expire = 60
    ignore_unknown_eap_types = no
    cisco_accounting_username_bug = no
    max_sessions = 256
    md5 {{
    }}
    gtc {{
      challenge = "{gtc_challenge}"
      auth_type = PAP
    }}
    mschapv2 {{
    }}
  }}
  detail {{
    filename = {d}/detail
    header = "%t"
    permissions = 0600
    escape_filenames = no
    locking = no
  }}
  detail auth_log {{
    filename = {d}/detail
    header = "%t"
    permissions = 0600
    escape_filenames = no
    locking = no
  }}
  always reject {{
    rcode = reject
  }}
}}
policy {{
}}
server default {{
  listen {{
    type = auth
    ipaddr = {self.ipaddr}
    port = {self.auth_port}
  }}
  listen {{
    type = acct
    ipaddr = {self.ipaddr}
    port = {self.acct_port}
  }}
  authorize {{
    # files first: a user's control items (EAP-Type := GTC) pick the EAP method.
    files
    eap {{
      ok = return
    }}
    pap
  }}
  authenticate {{
    Auth-Type PAP {{
      pap
    }}
    Auth-Type MS-CHAP {{
      mschap
    }}
    eap
  }}
  preacct {{
  }}
  accounting {{
    detail
  }}
  post-auth {{
    Post-Auth-Type REJECT {{
      update reply {{
        Reply-Message := "Login failed for %{{User-Name}}"
      }}
      eap
      auth_log
    }}
  }}
}}
""")
        with open(os.path.join(d, "clients.conf"), "w") as f:
            f.write(f"""client espgw {{
  ipaddr = {clients}
  secret = {self.secret}
  require_message_authenticator = yes
  nas_type = other
}}
""")
        lines = []
        for u in users:
            check = [f'Cleartext-Password := "{u["password"]}"'] + list(u.get("check", []))
            lines.append(f'{u["name"]} ' + ", ".join(check))
            reply = u.get("reply", [])
            for i, (a, v) in enumerate(reply):
                sep = "," if i + 1 < len(reply) else ""
                lines.append(f"\t{a} = {v}{sep}")
            lines.append("")
        with open(os.path.join(d, "users"), "w") as f:
            f.write("\n".join(lines) + "\n")
        for n in ("acct_users", "preproxy_users"):
            open(os.path.join(d, n), "w").close()

    # -- process -------------------------------------------------------------------
    def start(self, timeout=10.0):
        """Starts the server and waits until it answers; raises RuntimeError with the
        tail of its output otherwise."""
        cmd = [FREERADIUS, "-f", "-X", "-d", self.dir]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.out_path = os.path.join(self.dir, "log", "stdout.log")
        out = open(self.out_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"freeradius exited with {self.proc.returncode}: {self.tail()}")
            with open(self.out_path) as f:
                if "Ready to process requests" in f.read():
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"freeradius not ready in {timeout}s: {self.tail()}")

    def tail(self, n=15):
        try:
            with open(self.out_path) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def log(self):
        with open(self.out_path) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- accounting records --------------------------------------------------------
    def detail_records(self):
        """The detail file's records: a list of dicts attribute -> value (strings,
        quotes removed), in order."""
        path = os.path.join(self.dir, "detail")
        if not os.path.exists(path):
            return []
        recs, cur = [], None
        with open(path) as f:
            for line in f:
                if not line.strip():
                    if cur is not None:
                        recs.append(cur)
                    cur = None
                    continue
                if not line[0].isspace():
                    cur = {}
                    continue
                m = re.match(r"\s+(\S+) = (.*)$", line.rstrip("\n"))
                if m and cur is not None:
                    cur[m.group(1)] = m.group(2).strip('"')
        if cur:
            recs.append(cur)
        return recs

    def acct_records(self, status=None):
        return [r for r in self.detail_records()
                if "Acct-Status-Type" in r and (status is None or r["Acct-Status-Type"] == status)]


def free_udp_port_pair(start=18120):
    """Two consecutive free UDP ports on loopback from `start` up (auth, acct)."""
    for p in range(start, start + 400, 2):
        ok = True
        for q in (p, p + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return p
    raise RuntimeError("no free UDP port pair")

#!/usr/bin/python3
"""The appliance deployment kit (issue 7, "deployment on real hardware"), checked here
without real NICs: scripts/deploy/install staged into a DESTDIR, the systemd units
verified by systemd-analyze against the staged tree, the example configurations of a
remote-access and a site-to-site gateway accepted by both daemons' --check, and
scripts/deploy/host-setup's hugepage / vfio-pci / isolation steps in --dry-run, with
bad host.conf lines refused. Prints TESTCASE lines; exits 1 if any case failed.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ESPGW_BUILD_DIR", os.path.join(ROOT, "build"))
DP = os.path.join(BUILD, "dataplane", "dp", "espgw-dp")
IKE = os.path.join(BUILD, "control", "espgw-ike")
HOST_SETUP = os.path.join(ROOT, "scripts", "deploy", "host-setup")
failed = 0


def result(ok, name, why=""):
    global failed
    if ok:
        print(f"TESTCASE PASS {name}", flush=True)
    else:
        failed += 1
        print(f"TESTCASE FAIL {name}: {why}", flush=True)


def run(cmd, env=None, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def main():
    tmp = tempfile.mkdtemp(prefix="espgw-deploy-")
    try:
        stage = os.path.join(tmp, "root")
        env = dict(os.environ, DESTDIR=stage)
        r = run(["scripts/deploy/install", "--no-build", "--build-dir", os.path.relpath(BUILD, ROOT)], env=env)
        result(r.returncode == 0, "install_staged", (r.stdout + r.stderr)[-400:])
        want = {
            "usr/local/bin/espgw-dp": 0o755, "usr/local/bin/espgw-ike": 0o755, "usr/local/bin/espctl": 0o755,
            "usr/local/sbin/espgw-host-setup": 0o755, "etc/systemd/system/espgw-dp.service": 0o644,
            "etc/systemd/system/espgw-ike.service": 0o644, "etc/systemd/system/espgw-host.service": 0o644,
            "etc/logrotate.d/espgw": 0o644, "etc/espgw/espgw-dp.toml": 0o640, "etc/espgw/espgw-ike.toml": 0o640,
            "etc/espgw/host.conf": 0o640,
        }
        bad = [f"{p} {'missing' if not os.path.exists(os.path.join(stage, p)) else oct(mode(os.path.join(stage, p)))}"
               for p, m in want.items() if not os.path.exists(os.path.join(stage, p)) or mode(os.path.join(stage, p)) != m]
        result(not bad, "install_files_and_modes", "; ".join(bad))
        # An operator's edited configuration survives a second install.
        conf = os.path.join(stage, "etc/espgw/espgw-ike.toml")
        with open(conf, "a") as f:
            f.write("# edited by the operator\n")
        r = run(["scripts/deploy/install", "--no-build", "--build-dir", os.path.relpath(BUILD, ROOT)], env=env)
        result(r.returncode == 0 and "edited by the operator" in open(conf).read() and "keeping existing" in r.stdout,
               "install_keeps_edited_config", (r.stdout + r.stderr)[-300:])

        # systemd-analyze verify: the staged units against the machine's own unit tree
        # (targets) and shell; any warning (unknown key, missing binary) fails.
        os.makedirs(os.path.join(stage, "usr/lib/systemd"), exist_ok=True)
        if os.path.isdir("/usr/lib/systemd/system"):
            shutil.copytree("/usr/lib/systemd/system", os.path.join(stage, "usr/lib/systemd/system"), symlinks=True,
                            dirs_exist_ok=True)
        os.makedirs(os.path.join(stage, "bin"), exist_ok=True)
        shutil.copy("/bin/sh", os.path.join(stage, "bin/sh"))
        units = [os.path.join(stage, "etc/systemd/system", u)
                 for u in ("espgw-dp.service", "espgw-ike.service", "espgw-host.service")]
        if not shutil.which("systemd-analyze"):
            result(False, "systemd_units_verify", "systemd-analyze not found")
        else:
            r = run(["systemd-analyze", "verify", "--man=no", f"--root={stage}", *units])
            out = (r.stdout + r.stderr).strip()
            result(r.returncode == 0 and not out, "systemd_units_verify", out[-500:])
        ike_unit = open(units[1]).read()
        result("BindsTo=espgw-dp.service" in ike_unit and "--user espgw:espgw" in ike_unit and
               "Restart=on-failure" in ike_unit, "systemd_ike_unit_order_and_privdrop", "")
        dp_unit = open(units[0]).read()
        result("--user espgw:espgw" in dp_unit and all(c in dp_unit for c in ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN")),
               "systemd_dp_unit_privdrop", "")

        # Example configurations: both daemons accept them.
        for ex in ("remote-access", "site-to-site"):
            d = os.path.join(ROOT, "config", "examples", ex)
            r1 = run([DP, "-c", os.path.join(d, "espgw-dp.toml"), "--check"])
            r2 = run([IKE, "-c", os.path.join(d, "espgw-ike.toml"), "--check"])
            result(r1.returncode == 0 and r2.returncode == 0, f"example_{ex}_configs_check",
                   (r1.stdout + r1.stderr + r2.stdout + r2.stderr)[-400:])

        # host-setup: the steps it would take, and refusals of a bad host.conf.
        hc = os.path.join(ROOT, "config", "examples", "remote-access", "host.conf")
        r = run([HOST_SETUP, "--config", hc, "--dry-run"])
        out = r.stdout
        result(r.returncode == 0 and "echo 1024 > /proc/sys/vm/nr_hugepages" in out and
               "--bind=vfio-pci 0000:03:00.0" in out and "--bind=vfio-pci 0000:03:00.1" in out and
               "modprobe vfio-pci" in out, "host_setup_dry_run", (r.stdout + r.stderr)[-500:])
        r = run([HOST_SETUP, "--hints", "--config", hc])
        result(r.returncode == 0 and "isolcpus=managed_irq,domain,1-4" in r.stdout and "nohz_full=1-4" in r.stdout,
               "host_setup_isolation_hints", r.stdout[-300:])
        for name, text, expect in (
                ("bad_pci", 'NICS="eth0"\n', "is not a PCI address"),
                ("bad_driver", "DRIVER=e1000\n", "is not vfio-pci"),
                ("bad_line", "rm -rf /\n", ":1: not a KEY=VALUE line"),
                ("bad_hugepages", "HUGEPAGES=lots\n", "HUGEPAGES must be a number")):
            p = os.path.join(tmp, f"{name}.conf")
            with open(p, "w") as f:
                f.write(text)
            r = run([HOST_SETUP, "--config", p, "--dry-run"])
            result(r.returncode == 2 and expect in r.stderr, f"host_setup_refuses_{name}",
                   f"rc {r.returncode}: {r.stderr[-200:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

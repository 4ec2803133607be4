"""What every result records: CPU model and flags, core count, DPDK, intel-ipsec-mb
and OpenSSL versions, the git commit, host and date."""
import datetime
import os
import re
import socket
import subprocess


def _run(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def collect(root):
    model, flags = "", []
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1].split()
    imb = ""
    try:
        m = re.search(r'#define\s+IMB_VERSION_STR\s+"([^"]+)"', open("/usr/include/intel-ipsec-mb.h").read())
        imb = m.group(1) if m else ""
    except OSError:
        pass
    imb_pkg = _run(["dpkg-query", "-W", "-f=${Version}", "libipsec-mb-dev"])
    commit = _run(["git", "rev-parse", "HEAD"], cwd=root)
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root))
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": model,
        "cpu_flags": flags,
        "crypto_flags": [x for x in flags if x in ("aes", "avx2", "avx512f", "vaes", "vpclmulqdq", "gfni",
                                                   "sha_ni", "pclmulqdq", "avx512bw", "avx512vl")],
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "kernel": _run(["uname", "-r"]),
        "dpdk": _run(["pkg-config", "--modversion", "libdpdk"]),
        "intel_ipsec_mb": imb + (f" (dpkg {imb_pkg})" if imb_pkg else ""),
        "openssl": _run(["openssl", "version"]),
        "strongswan": _run(["dpkg-query", "-W", "-f=${Version}", "strongswan-charon"]),
        "git_commit": commit + (" (working tree modified)" if dirty else ""),
    }

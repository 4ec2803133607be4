#!/usr/bin/python3
"""Proves the bench harness works end to end: runs `bench/run --quick` into a
temporary directory and checks that results.md, results.json and plot.png were
produced, with a UDP-4500 row and a 16-SA row paired with the 1-SA one; and that the
fast pcap generator's ESP (plain and in UDP) decrypts with scapy's (pcapgen.selftest). Asserts no speeds. Prints TESTCASE
PASS|FAIL bench-quick and bench-pcapgen-scapy."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    out = tempfile.mkdtemp(prefix="ebn-quick-")
    cmd = [os.path.join(ROOT, "bench", "run"), "--quick", "--out", out]
    bd = os.environ.get("ESPGW_BUILD_DIR") or os.path.join(ROOT, "build")
    cmd += ["--build-dir", bd]
    # scripts/test has built the tree already: rebuilding here would only spend the time limit
    if all(os.access(os.path.join(bd, p), os.X_OK) for p in ("bench/esp_micro", "bench/sa_install", "dataplane/dp/espgw-dp", "control/espgw-ike")):
        cmd.append("--no-build")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
        rc, tail = r.returncode, (r.stdout + r.stderr)[-400:]
    except subprocess.TimeoutExpired:
        rc, tail = "timeout", ""
    missing = [f for f in ("results.md", "results.json", "plot.png")
               if not os.path.isfile(os.path.join(out, f)) or os.path.getsize(os.path.join(out, f)) == 0]
    why = ""
    if rc != 0:
        why = f"bench/run exit {rc}: {tail}"
    elif missing:
        why = f"missing {', '.join(missing)}"
    else:
        try:
            d = json.load(open(os.path.join(out, "results.json")))
            if not d.get("rows") or not d["env"].get("cpu_model"):
                why = "results.json has no rows or no environment"
            elif not d["peers"].get("sa_install", {}).get("install_per_s"):
                why = f"no SA install rate: {d['peers'].get('sa_install')}"
            elif not any(r.get("encap") == "udp" and r["cols"].get("espgw", {}).get("mpps") for r in d["rows"]):
                why = "no UDP-4500 row forwarded by espgw-dp"
            elif not any(r["sas"] == 16 and r.get("paired_vs_fewest", {}).get("sas") == 1 for r in d["rows"]):
                why = "no 16-SA row with its per-trial ratio against 1 SA"
        except ValueError as e:
            why = f"results.json unreadable: {e}"
    print(f"TESTCASE {'PASS' if not why else 'FAIL'} bench-quick" + (f": {why}" if why else "") + f" ({out})",
          flush=True)
    sys.path.insert(0, os.path.join(ROOT, "bench", "harness"))
    try:
        import pcapgen
        pcapgen.selftest()
        why2 = ""
    except Exception as e:  # noqa: BLE001
        why2 = f"{type(e).__name__}: {e}"
    print(f"TESTCASE {'PASS' if not why2 else 'FAIL'} bench-pcapgen-scapy" + (f": {why2}" if why2 else ""), flush=True)
    return 0 if not why and not why2 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The crypto ceiling and espgw's ESP transform on the same buffers: runs
build/bench/esp_micro --json and indexes its rows by (suite, size, dir)."""
import json
import os
import subprocess


def run(binary, workdir, quick, trials, suites, sizes):
    """Returns {(micro_suite, size, dir): row}. Raises RuntimeError on failure."""
    rows = {}
    for suite in suites:
        for size in sizes:
            out = os.path.join(workdir, f"micro-{suite}-{size}.json")
            cmd = [binary, "--json", out, "--suite", suite, "--size", size, "--trials", str(trials)]
            if quick:
                cmd.append("--quick")
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                raise RuntimeError(f"esp_micro failed: {r.stderr[-300:]}")
            for row in json.load(open(out)):
                rows[(row["suite"], row["size"], row["dir"])] = row
    return rows

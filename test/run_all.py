#!/usr/bin/python3
"""Runs every espgw test suite and prints one final line "N passed, M failed".

Suites, in order:
  1. Catch2 binaries registered with meson test() in build/ (each TEST_CASE counts);
  2. integration scripts listed in test/integration.list (each "TESTCASE PASS|FAIL"
     line counts; "TESTCASE SKIP" lines are reported but not counted; a script that
     exits non-zero or prints no TESTCASE line counts as one failure);
  3. ASan+UBSan and TSan builds of the tests named in SANITIZED (not with --quick);
  4. bounded libFuzzer runs of every fuzz_* target with its committed corpus
     (not with --quick).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)

# meson test names that also run in the sanitizer builds.
SANITIZED = {
    "asan": ["vectors", "unit", "tables", "tables_stress", "dp_config"],
    "tsan": ["tables_stress"],
}
FUZZ_SECONDS = int(os.environ.get("ESPGW_FUZZ_SECONDS", "20"))

passed = 0
failed = 0
skipped = []
failures = []


def log(msg):
    print(msg, flush=True)


def record(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(f"{name}: {why}" if why else name)


TESTCASE = re.compile(r"^TESTCASE (PASS|FAIL|SKIP) (\S+?):?(?:\s+(.*))?$")
CATCH_ALL = re.compile(r"All tests passed \((\d+) assertions? in (\d+) test cases?\)")
CATCH_SUM = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
CATCH_SUM_ALLFAIL = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) failed")


def run_catch2(builddir, label_prefix, only=None):
    tests = json.loads(subprocess.check_output(["meson", "introspect", builddir, "--tests"]))
    for t in tests:
        name = label_prefix + t["name"]
        if only and t["name"] not in only:
            continue
        env = dict(os.environ)
        env.update(t.get("env") or {})
        if label_prefix == "tsan:":
            env["TSAN_OPTIONS"] = f"suppressions={os.path.join(ROOT, 'test', 'tsan.supp')} second_deadlock_stack=1"
        timeout = t.get("timeout") or 300
        start = time.time()
        try:
            p = subprocess.run(t["cmd"], cwd=t.get("workdir") or ROOT, env=env,
                               capture_output=True, text=True, timeout=max(timeout, 300))
            out = p.stdout + p.stderr
            rc = p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            rc = -999
        dur = time.time() - start
        m_all = CATCH_ALL.search(out)
        m_sum = CATCH_SUM.search(out)
        m_allfail = CATCH_SUM_ALLFAIL.search(out)
        if m_all and rc == 0:
            n = int(m_all.group(2))
            for _ in range(n):
                record(True, name)
            log(f"  PASS {name}: {n} test cases ({dur:.1f} s)")
        elif m_sum:
            n_pass, n_fail = int(m_sum.group(2)), int(m_sum.group(3))
            for _ in range(n_pass):
                record(True, name)
            for _ in range(max(n_fail, 1)):
                record(False, name, "test case failed")
            log(f"  FAIL {name}: {n_pass} passed, {n_fail} failed (rc={rc}, {dur:.1f} s)")
            log(indent(tail(out, 60)))
        elif any(TESTCASE.match(l.strip()) for l in out.splitlines()):
            # A meson test that is a driver of its own (e.g. a multi-process test):
            # it prints TESTCASE lines like the integration scripts.
            n_pass = n_fail = 0
            for l in out.splitlines():
                m = TESTCASE.match(l.strip())
                if not m or m.group(1) == "SKIP":
                    continue
                ok = m.group(1) == "PASS"
                record(ok, f"{name}/{m.group(2)}", m.group(3) or "")
                n_pass += ok
                n_fail += not ok
            if rc != 0 and n_fail == 0:
                record(False, name, f"exited with status {rc}")
                n_fail = 1
            log(f"  {'PASS' if n_fail == 0 else 'FAIL'} {name}: {n_pass} passed, {n_fail} failed ({dur:.1f} s)")
            if n_fail:
                log(indent(tail(out, 60)))
        else:
            n_fail = int(m_allfail.group(2)) if m_allfail else 1
            for _ in range(n_fail):
                record(False, name, f"crashed or timed out (rc={rc})")
            log(f"  FAIL {name}: no Catch2 summary (rc={rc}, {dur:.1f} s)")
            log(indent(tail(out, 60)))


def tail(text, n):
    return "\n".join(text.rstrip().splitlines()[-n:])


def indent(text):
    return "\n".join("      " + l for l in text.splitlines())




def run_integration(pattern=None):
    listing = os.path.join("test", "integration.list")
    for line in open(listing):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        script, timeout = fields[0], int(fields[1]) if len(fields) > 1 else 300
        if pattern and pattern not in script:
            continue
        log(f"  running {script} (limit {timeout} s)")
        start = time.time()
        cmd = ["/usr/bin/python3", script] if script.endswith(".py") else ["bash", script]
        seen = 0
        script_fails = 0
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=dict(os.environ, ESPGW_BUILD_DIR=os.path.join(ROOT, "build")),
                                 start_new_session=True)
            out_lines = []
            deadline = start + timeout
            import selectors
            sel = selectors.DefaultSelector()
            sel.register(p.stdout, selectors.EVENT_READ)
            while True:
                if time.time() > deadline:
                    os.killpg(p.pid, 9)
                    record(False, script, f"timed out after {timeout} s")
                    script_fails += 1
                    break
                if not sel.select(timeout=1):
                    if p.poll() is not None:
                        break
                    continue
                l = p.stdout.readline()
                if not l:
                    break
                out_lines.append(l.rstrip("\n"))
                m = TESTCASE.match(l.strip())
                if m:
                    seen += 1
                    kind, tname, why = m.group(1), m.group(2), m.group(3) or ""
                    if kind == "SKIP":
                        skipped.append(f"{tname}: {why}")
                        log(f"    SKIP {tname}: {why}")
                    else:
                        record(kind == "PASS", tname, why)
                        script_fails += kind == "FAIL"
                        log(f"    {kind} {tname}" + (f": {why}" if why else ""))
            rc = p.wait()
        except OSError as e:
            record(False, script, str(e))
            continue
        dur = time.time() - start
        if rc != 0 and script_fails == 0:
            record(False, script, f"exited with status {rc} without a failing TESTCASE")
        if seen == 0 and rc == 0:
            record(False, script, "printed no TESTCASE line")
        if rc != 0 or seen == 0:
            log(indent(tail("\n".join(out_lines), 40)))
        log(f"  {script}: rc={rc}, {dur:.1f} s")


def build_variant(builddir, setup_args, env=None, only_tests=None, only_prefix=None):
    """Configures and builds `builddir`; with only_tests, just those tests' executables;
    with only_prefix, just the executables whose target name starts with it. Returns
    (ok, error text). Runs at low priority: it overlaps the integration tests."""
    if not os.path.exists(os.path.join(builddir, "build.ninja")):
        args = ["meson", "setup"] + (["--wipe"] if os.path.isdir(builddir) else []) + [builddir]
        p = subprocess.run(args + setup_args, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            return False, tail(p.stdout + p.stderr, 30)
    targets = []
    if only_tests:
        tests = json.loads(subprocess.check_output(["meson", "introspect", builddir, "--tests"]))
        targets = [os.path.relpath(t["cmd"][0], os.path.abspath(builddir))
                   for t in tests if t["name"] in only_tests]
    if only_prefix:
        tg = json.loads(subprocess.check_output(["meson", "introspect", builddir, "--targets"]))
        targets = [os.path.relpath(t["filename"][0], os.path.abspath(builddir))
                   for t in tg if t["name"].startswith(only_prefix) and t["type"] == "executable"]
    p = subprocess.run(["nice", "-n", "10", "ninja", "-C", builddir] + targets, capture_output=True, text=True,
                       env=env)
    return p.returncode == 0, "" if p.returncode == 0 else tail(p.stdout + p.stderr, 40)


# The sanitizer and fuzz builds (compile time dominates scripts/test on a 2-core
# machine) run in a background thread while the Catch2 and integration suites run;
# the instrumented tests run once both are done. -O1 keeps the instrumented builds
# quick to compile and their stack traces exact.
VARIANTS = [
    ("asan", "build-asan", ["-Dsanitize=asan", "-Dmarch=x86-64-v2", "-Doptimization=1"], None),
    ("tsan", "build-tsan", ["-Dsanitize=tsan", "-Dmarch=x86-64-v2", "-Doptimization=1"], None),
    ("fuzz", "build-fuzz", ["-Dfuzz=true", "-Ddataplane=disabled"], dict(CC="clang", CXX="clang++")),
]
built_variants = {}


def build_all_variants():
    for name, bdir, setup_args, env_extra in VARIANTS:
        tb = time.time()
        env = dict(os.environ, **env_extra) if env_extra else None
        if name == "fuzz":
            ok, err = build_variant(bdir, setup_args, env, only_prefix="fuzz_")
        else:
            ok, err = build_variant(bdir, setup_args, env, only_tests=SANITIZED[name])
        built_variants[name] = (ok, err, time.time() - tb)


def run_fuzz():
    targets = json.loads(subprocess.check_output(["meson", "introspect", "build-fuzz", "--targets"]))
    for t in targets:
        if not t["name"].startswith("fuzz_") or t["type"] != "executable":
            continue
        exe = t["filename"][0]
        corpus = os.path.join("test", "fuzz", "corpus", t["name"][len("fuzz_"):])
        os.makedirs(corpus, exist_ok=True)
        work = f"/tmp/espgw-{t['name']}-corpus"
        os.makedirs(work, exist_ok=True)
        start = time.time()
        p = subprocess.run([exe, f"-max_total_time={FUZZ_SECONDS}", "-timeout=5", "-rss_limit_mb=2048",
                            "-print_final_stats=1", work, corpus],
                           capture_output=True, text=True)
        m = re.search(r"stat::number_of_executed_units:\s*(\d+)", p.stderr)
        execs = m.group(1) if m else "?"
        ok = p.returncode == 0
        record(ok, t["name"], "crash or leak found" if not ok else "")
        log(f"  {'PASS' if ok else 'FAIL'} {t['name']}: {execs} executions in {time.time() - start:.0f} s")
        if not ok:
            log(indent(tail(p.stderr, 40)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip sanitizer builds and fuzzing")
    ap.add_argument("--only", help="run only integration scripts matching this substring")
    args = ap.parse_args()
    t0 = time.time()

    background = None
    if not args.quick and not args.only:
        import threading
        background = threading.Thread(target=build_all_variants, daemon=True)
        background.start()
    if not args.only:
        log("== unit, vector and dataplane tests (Catch2)")
        run_catch2("build", "")
    log("== integration tests with real peers")
    run_integration(args.only)
    if background:
        tw = time.time()
        background.join()
        log(f"== sanitizer and fuzz builds (background; waited {time.time() - tw:.0f} s more)")
        for name, (ok, err, dur) in built_variants.items():
            log(f"  {name} build took {dur:.0f} s" + ("" if ok else ": FAILED"))
            if not ok:
                log(indent(err))
        for san, names in SANITIZED.items():
            log(f"== {san} tests")
            if built_variants[san][0]:
                run_catch2(f"build-{san}", f"{san}:", names)
            else:
                record(False, f"{san}-build", "build failed")
        log("== fuzzing")
        if built_variants["fuzz"][0]:
            run_fuzz()
        else:
            record(False, "fuzz-build", "clang libFuzzer build failed")

    log(f"\ntotal time {time.time() - t0:.0f} s")
    if skipped:
        log("not run:")
        for s in skipped:
            log(f"  {s}")
    if failures:
        log("failures:")
        for f in failures:
            log(f"  {f}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

"""Shared pieces of the interop scripts: TESTCASE reporting, shell calls, and a pair of
network namespaces joined by a veth (gateway side, road-warrior side)."""
import subprocess
import time


class Results:
    """Prints "TESTCASE PASS|FAIL name[: why]" lines (test/run_all.py counts them)."""

    def __init__(self):
        self.failed = 0

    def __call__(self, ok, name, why=""):
        if ok:
            print(f"TESTCASE PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"TESTCASE FAIL {name}: {why}", flush=True)


def wait_until(pred, seconds=10.0, step=0.1):
    """Calls pred() every `step` seconds until it returns something true (returned) or
    `seconds` pass (then its last value)."""
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def sh(cmd, check=True, **kw):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True, **kw)


def cleanup(*namespaces):
    for ns in namespaces:
        sh(f"ip netns pids {ns} 2>/dev/null | xargs -r kill -9", check=False)
        sh(f"ip netns del {ns}", check=False)


def veth_pair(gw, rw, gw_ip, rw_ip, tag):
    """Namespaces `gw` and `rw` (recreated) joined by veth tag-g0 / tag-r0 on a /24."""
    cleanup(gw, rw)
    sh(f"ip netns add {gw}")
    sh(f"ip netns add {rw}")
    sh(f"ip link add {tag}-g0 netns {gw} type veth peer name {tag}-r0 netns {rw}")
    sh(f"ip -n {gw} addr add {gw_ip}/24 dev {tag}-g0")
    sh(f"ip -n {rw} addr add {rw_ip}/24 dev {tag}-r0")
    for ns, dev in ((gw, f"{tag}-g0"), (rw, f"{tag}-r0")):
        sh(f"ip -n {ns} link set lo up")
        sh(f"ip -n {ns} link set {dev} up")

"""DPDK's ipsec-secgw example as the side-by-side peer: built at bench time from the
source Debian's dpdk-doc installs (never committed), configured with the bench SAs,
fed by net_pcap (infinite replay) and drained by net_null; packets/s from its
periodic statistics over a fixed window."""
import os
import re
import shutil
import subprocess
import time

SRC = "/usr/share/dpdk/examples/ipsec-secgw"
RX_CKSUM = ".offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,"
MIN_MBUFS = "\t\t       8192U);"
NOTE = ("built from dpdk-doc's examples/ipsec-secgw with its RX checksum offload request "
        "removed (net_pcap/net_null cannot do it; the app never reads those flags) and its mbuf pool "
        "floor (8192) read from ESPGW_BENCH_MBUFS, so net_pcap's infinite_rx can hold the 100,000-frame "
        "files of the 100k-SA scenarios")
# ipsec-secgw's SA parser (sa.c, "udp-encap") takes UDP encapsulation only for the
# inline and lookaside-protocol actions; the cryptodev (lookaside-none) path the
# bench runs refuses it.
NO_UDP_ENCAP = ("not supported: ipsec-secgw takes udp-encap only with inline or lookaside-protocol "
                "security offload, not on its cryptodev path")
BUILD_TAG = "2"  # bump when the patches change


def build(workdir, log):
    """Copies the example to workdir/src, patches the RX offload request, runs make.
    Returns (binary path, note) or raises RuntimeError with the make output tail."""
    src = os.path.join(workdir, "src")
    binary = os.path.join(src, "build", "ipsec-secgw")
    stamp = os.path.join(src, ".espgw-bench-stamp")
    ver = subprocess.run(["pkg-config", "--modversion", "libdpdk"], capture_output=True, text=True).stdout.strip()
    if os.path.exists(binary) and os.path.exists(stamp) and open(stamp).read() == ver + "/" + BUILD_TAG:
        return binary, NOTE
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(SRC, src)
    c = os.path.join(src, "ipsec-secgw.c")
    text = open(c).read()
    if RX_CKSUM in text:
        text = text.replace(RX_CKSUM, ".offloads = 0, /* espgw bench: vdevs lack RX checksum offload */")
    if MIN_MBUFS in text:
        text = text.replace(MIN_MBUFS, "\t\t       espgw_bench_mbufs());", 1)
        text = text.replace("static uint32_t\ncalculate_nb_mbufs(", "static uint32_t\nespgw_bench_mbufs(void)\n{\n"
                            "\tconst char *v = getenv(\"ESPGW_BENCH_MBUFS\");\n"
                            "\treturn v ? (uint32_t)strtoul(v, NULL, 0) : 8192U;\n}\n\n"
                            "static uint32_t\ncalculate_nb_mbufs(", 1)
    else:
        raise RuntimeError("ipsec-secgw source changed: mbuf floor not found")
    open(c, "w").write(text)
    log(f"building ipsec-secgw (DPDK {ver}) in {src}")
    r = subprocess.run(["make", "-j2"], cwd=src, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(binary):
        raise RuntimeError("ipsec-secgw build failed: " + (r.stdout + r.stderr)[-600:])
    open(stamp, "w").write(ver + "/" + BUILD_TAG)
    return binary, NOTE


def _hex(b):
    return ":".join(f"{x:02x}" for x in b)


def write_config(path, suite, n_sas):
    from sas import SUITES, inner_dst, keymat, spi_for
    s = SUITES[suite]
    lines = []
    for j in range(n_sas):
        so, si = spi_for(j, "out"), spi_for(j, "in")
        lines.append(f"sp ipv4 out esp protect {so} pri 1 dst {inner_dst(j)}/32 sport 0:65535 dport 0:65535")
        lines.append(f"sp ipv4 in esp protect {si} pri 1 src {inner_dst(j)}/32 dst 10.10.0.0/24 "
                     "sport 0:65535 dport 0:65535")
        for d, spi, src, dst in (("out", so, "192.0.2.1", "192.0.2.2"), ("in", si, "192.0.2.2", "192.0.2.1")):
            km = keymat(suite, j, d)
            alg = s["secgw"].format(k=_hex(km[:s["enc"]]), a=_hex(km[s["enc"]:]))
            lines.append(f"sa {d} {spi} {alg} mode ipv4-tunnel src {src} dst {dst}")
    lines += ["rt ipv4 dst 192.0.2.2/32 port 1", "rt ipv4 dst 10.10.0.0/24 port 0",
              "neigh port 0 02:00:00:00:01:02", "neigh port 1 02:00:00:00:02:02"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


_SENT = re.compile(r"Total packets sent:\s+(\d+)")
_DROP = re.compile(r"Total packets dropped:\s+(\d+)")


def measure(binary, workdir, suite, n_sas, direction, pcap, seconds, warmup, lcore, prefix, n_frames=0):
    """One trial. Port 0 protected (plaintext side), port 1 unprotected (ESP side, -u).
    Returns dict(pps, dropped) or raises RuntimeError."""
    cfg = os.path.join(workdir, f"secgw-{suite}-{n_sas}.cfg")
    if not os.path.exists(cfg):
        write_config(cfg, suite, n_sas)
    pcap_vdev = f"net_pcap0,rx_pcap={pcap},infinite_rx=1"
    null_vdev = "net_null0,no-rx=1"
    # port ids follow vdev order: the protected port must come first
    vdevs = [pcap_vdev, null_vdev] if direction == "out" else [null_vdev.replace("null0", "null1"),
                                                                pcap_vdev.replace("pcap0", "pcap1")]
    big = n_sas >= 10000
    env = dict(os.environ)
    if n_frames > 4096:
        env["ESPGW_BENCH_MBUFS"] = str(n_frames + 16384)
    cmd = ["stdbuf", "-oL", binary, "-l", str(lcore), "-n", "1", "--no-pci", "--no-huge", "-m",
           "4096" if big else "1024",
           f"--file-prefix={prefix}", "--log-level=5"]
    for v in vdevs:
        cmd += ["--vdev", v]
    cmd += ["--vdev", "crypto_aesni_mb", "--", "-p", "0x3", "-u", "0x2", "-l", "-t", "1",
            "--config", f"(0,0,{lcore}),(1,0,{lcore})", "-f", cfg]
    logf = os.path.join(workdir, f"secgw-{direction}-{suite}-{n_sas}.log")
    t_start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    samples = []
    sent = None
    tail = []
    deadline = time.monotonic() + warmup + seconds + 30 + n_sas / 1000
    try:
        for line in p.stdout:
            tail = (tail + [line])[-40:]
            m = _SENT.search(line)
            if m:
                sent = (time.monotonic(), int(m.group(1)))
            m = _DROP.search(line)
            if m and sent:
                samples.append([sent[0], sent[1], int(m.group(1))])
            if samples and samples[-1][0] - samples[0][0] >= warmup + seconds:
                break
            if time.monotonic() > deadline:
                break
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        with open(logf, "w") as f:
            f.write(" ".join(cmd) + "\n" + "".join(tail))
    t0 = samples[0][0] if samples else 0
    win = [s for s in samples if s[0] - t0 >= warmup - 0.05]
    if len(win) < 2 or win[-1][1] <= win[0][1]:
        raise RuntimeError(f"ipsec-secgw forwarded nothing (log {logf}): " + "".join(tail)[-400:])
    dt = win[-1][0] - win[0][0]
    return {"pps": (win[-1][1] - win[0][1]) / dt, "dropped": win[-1][2] - win[0][2], "window_s": dt,
            "start_s": samples[0][0] - t_start}

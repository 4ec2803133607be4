"""The Linux kernel's ESP as a peer: detected with `ip xfrm state add` in a throwaway
namespace. Where it works, the column would be measured with iperf3 through xfrm
tunnels; on kernels without ESP the column says why it is not available."""
import subprocess


def detect(ns="ebn-kx"):
    """Returns (available, reason)."""
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        return False, "cannot create a namespace: " + r.stderr.strip()
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "ip", "xfrm", "state", "add", "src", "192.0.2.1",
                            "dst", "192.0.2.2", "proto", "esp", "spi", "0x1001", "mode", "tunnel", "aead",
                            "rfc4106(gcm(aes))", "0x" + "11" * 20, "128"], capture_output=True, text=True)
        if r.returncode != 0:
            return False, (r.stderr.strip() or r.stdout.strip() or f"ip xfrm exit {r.returncode}")
        return True, ""
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

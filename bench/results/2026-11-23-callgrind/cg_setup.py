#!/usr/bin/python3
"""cg_setup.py: what cg_run.sh needs under $WORK (default /tmp/espgw-callgrind): the
bench's AES-GCM-128 1-SA pcaps (64 and 1420 B, both directions), espgw-dp TOMLs and the
ipsec-secgw config from the bench harness, and ipsec-secgw built by the harness.
Run with Debian's /usr/bin/python3 (scapy)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../harness"))
import espgw  # noqa: E402
import pcapgen  # noqa: E402
import secgw  # noqa: E402

work = os.environ.get("WORK", "/tmp/espgw-callgrind")
os.makedirs(os.path.join(work, "pcap"), exist_ok=True)
for d in ("out", "in"):
    for z in (64, 1420):
        pcap = pcapgen.make(os.path.join(work, "pcap"), "aes128gcm", z, 1, d)
        espgw.write_config(os.path.join(work, f"espgw-{d}-{z}.toml"), "aes128gcm", 1, d, pcap, [1], 256)
secgw.write_config(os.path.join(work, "secgw.cfg"), "aes128gcm", 1)
print(secgw.build(os.path.join(work, "secgw"), print)[0])

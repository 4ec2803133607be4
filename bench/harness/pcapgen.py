#!/usr/bin/python3
"""Packet files for the bench: plaintext IPv4/UDP frames (encrypt input) and the same
frames as ESP tunnel packets made by scapy with the bench SA keys (decrypt input).

Sizes are IPv4 total lengths of the *plaintext* packet: "64", "1420", or "imix"
(7:4:1 of 64/576/1500, interleaved). With n_sas > 1 the inner destinations walk over
n_sas /32s of 10.20.0.0/16 (one SA per destination), so every SA carries traffic.
"""
import logging
import os

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import Ether, IP, UDP, Raw, PcapWriter  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

from sas import SUITES, inner_dst, keymat, spi_for  # noqa: E402

IMIX = [64] * 7 + [576] * 4 + [1500]
# interleave the 12-packet IMIX cycle so bursts mix sizes
IMIX_ORDER = [64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 576, 64]

MAC_GW_IN = "ff:ff:ff:ff:ff:ff"  # broadcast: the vdevs have random MACs
MAC_LAN = "02:00:00:00:01:02"
MAC_GW_OUT = "ff:ff:ff:ff:ff:ff"
MAC_PEER = "02:00:00:00:02:02"
SRC_INNER = "10.10.0.2"
TUN_GW = "192.0.2.1"
TUN_PEER = "192.0.2.2"


_PATTERN = bytes(range(256)) * 8


def size_list(size):
    """IPv4 total lengths for one cycle of a size name."""
    if size == "imix":
        return IMIX_ORDER
    return [int(size)]


def mean_ip_len(size):
    ls = size_list(size)
    return sum(ls) / len(ls)


def inner_packet(ip_len, src, dst, i):
    pay = ip_len - 20 - 8
    off = i & 0xFF
    return IP(src=src, dst=dst, ttl=64, id=i & 0xFFFF) / UDP(sport=1024 + (i % 4096), dport=5001) / Raw(
        _PATTERN[off:off + pay])


def write(path, frames):
    w = PcapWriter(path, linktype=1, sync=False)
    for f in frames:
        w.write(f)
    w.close()


def make(outdir, suite, size, n_sas, direction, n_frames=None):
    """Writes one pcap and returns its path. direction "out": plaintext entering the
    protected port; "in": ESP from the peer (tunnel 192.0.2.2 -> 192.0.2.1) carrying
    10.20.x -> 10.10.0.2."""
    cyc = size_list(size)
    if n_frames is None:
        n_frames = max(len(cyc) * 8, min(100000, max(n_sas, 256)))
        n_frames -= n_frames % len(cyc)
    path = os.path.join(outdir, f"{direction}-{suite}-{size}-{n_sas}.pcap")
    if os.path.exists(path):
        return path
    frames = []
    sas = {}
    for i in range(n_frames):
        j = i % n_sas
        if direction == "out":
            inner = inner_packet(cyc[i % len(cyc)], SRC_INNER, inner_dst(j), i)
            frames.append(Ether(dst=MAC_GW_IN, src=MAC_LAN) / inner)
        else:
            inner = inner_packet(cyc[i % len(cyc)], inner_dst(j), SRC_INNER, i)
            sa = sas.get(j)
            if sa is None:
                sa = make_sa(suite, j, "in")
                sas[j] = sa
            esp = sa.encrypt(inner)
            frames.append(Ether(dst=MAC_GW_OUT, src=MAC_PEER) / IP(bytes(esp)))
    write(path, frames)
    return path


def make_sa(suite, j, direction):
    s = SUITES[suite]
    km = keymat(suite, j, direction)
    kw = dict(crypt_algo=s["scapy_crypt"], crypt_key=km[:s["enc"]])
    if s["scapy_auth"]:
        kw.update(auth_algo=s["scapy_auth"], auth_key=km[s["enc"]:])
    hdr = IP(src=TUN_PEER, dst=TUN_GW) if direction == "in" else IP(src=TUN_GW, dst=TUN_PEER)
    return SecurityAssociation(ESP, spi=spi_for(j, direction), tunnel_header=hdr, **kw)

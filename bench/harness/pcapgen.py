#!/usr/bin/python3
"""Packet files for the bench: plaintext IPv4/UDP frames (encrypt input) and the same
frames as ESP tunnel packets with the bench SA keys (decrypt input), built with struct
and python-cryptography (100,000 SAs in seconds; scapy's per-packet generator is kept
as make_scapy and cross-checks the fast one in selftest()).

Sizes are IPv4 total lengths of the *plaintext* packet: "64", "1420", or "imix"
(7:4:1 of 64/576/1500, interleaved). With n_sas > 1 the inner destinations walk over
n_sas /32s of 10.20.0.0/16 (one SA per destination), so every SA carries traffic.
"""
import hashlib
import hmac
import ipaddress
import logging
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

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


# ---- fast generator (struct + python-cryptography; 100k SAs in seconds) ----

_ETH_IN = bytes.fromhex("ffffffffffff") + bytes.fromhex(MAC_LAN.replace(":", "")) + b"\x08\x00"
_ETH_OUT = bytes.fromhex("ffffffffffff") + bytes.fromhex(MAC_PEER.replace(":", "")) + b"\x08\x00"


def _csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ipv4(total_len, ident, proto, src, dst):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total_len, ident & 0xFFFF, 0, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", _csum(h)) + h[12:]


def _inner(ip_len, src, dst, i):
    """IPv4/UDP plaintext of ip_len bytes (UDP checksum 0: none, RFC 768)."""
    pay = ip_len - 28
    off = i & 0xFF
    udp = struct.pack("!HHHH", 1024 + (i % 4096), 5001, 8 + pay, 0)
    return _ipv4(ip_len, i, 17, src, dst) + udp + _PATTERN[off:off + pay]


class _EspEncryptor:
    """RFC 4303 tunnel-mode ESP of one inbound bench SA (RFC 4106 GCM, RFC 7634
    ChaCha20-Poly1305: 8-byte IV, nonce = salt || IV, AAD = SPI || seq; RFC 3602 CBC +
    RFC 4868 HMAC-SHA-256-128), written here with python-cryptography rather than scapy
    per packet so 100,000 SAs take seconds."""

    def __init__(self, suite, j):
        s = SUITES[suite]
        km = keymat(suite, j, "in")
        self.spi = spi_for(j, "in")
        self.seq = 0
        if s["scapy_auth"]:
            self.kind = "cbc"
            self.key, self.akey = km[:s["enc"]], km[s["enc"]:]
        else:
            self.kind = "aead"
            key, self.salt = km[:s["enc"] - 4], km[s["enc"] - 4:]
            self.aead = (ChaCha20Poly1305(key) if suite == "chacha20poly1305" else AESGCM(key))

    def encrypt(self, inner):
        self.seq += 1
        hdr = struct.pack("!II", self.spi, self.seq)
        align = 16 if self.kind == "cbc" else 4
        padlen = (-(len(inner) + 2)) % align
        pt = inner + bytes(range(1, padlen + 1)) + bytes([padlen, 4])  # next header 4: IPv4
        if self.kind == "aead":
            iv = struct.pack("!Q", (self.spi << 20) ^ self.seq)
            return hdr + iv + self.aead.encrypt(self.salt + iv, pt, hdr)
        iv = hashlib.sha256(hdr).digest()[:16]
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        body = hdr + iv + enc.update(pt) + enc.finalize()
        return body + hmac.new(self.akey, body, hashlib.sha256).digest()[:16]


def _sa_of(i, n_sas):
    return i % n_sas


def frames(suite, size, n_sas, direction, n_frames, encap="esp"):
    """[(sa index, Ethernet frame bytes)] for one scenario; see make()."""
    cyc = size_list(size)
    out = []
    src_in, gw, peer = ipaddress.IPv4Address(SRC_INNER).packed, ipaddress.IPv4Address(TUN_GW).packed, \
        ipaddress.IPv4Address(TUN_PEER).packed
    base = int(ipaddress.IPv4Address(inner_dst(0)))
    encs = {}
    for i in range(n_frames):
        j = _sa_of(i, n_sas)
        dst = (base + j).to_bytes(4, "big")
        ln = cyc[i % len(cyc)]
        if direction == "out":
            out.append((j, _ETH_IN + _inner(ln, src_in, dst, i)))
        else:
            e = encs.get(j)
            if e is None:
                e = encs[j] = _EspEncryptor(suite, j)
            esp = e.encrypt(_inner(ln, dst, src_in, i))
            if encap == "udp":  # RFC 3948 §2.1: UDP 4500 -> 4500, checksum 0 over IPv4
                esp = struct.pack("!HHHH", 4500, 4500, 8 + len(esp), 0) + esp
            out.append((j, _ETH_OUT + _ipv4(20 + len(esp), i, 17 if encap == "udp" else 50, peer, gw) + esp))
    return out


def write_raw(path, frame_bytes):
    """libpcap file (Ethernet) of raw frames."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for k, fr in enumerate(frame_bytes):
            f.write(struct.pack("<IIII", k // 1000000, k % 1000000, len(fr), len(fr)))
            f.write(fr)
    os.replace(tmp, path)


def n_frames_for(size, n_sas):
    cyc = size_list(size)
    n = max(len(cyc) * 8, max(n_sas, 256))
    return n + (-n) % len(cyc)


def make(outdir, suite, size, n_sas, direction, n_frames=None, queues=1, queue_of=None, encap="esp"):
    """Writes the scenario's pcap(s) and returns their paths (a str for queues == 1,
    else a list with one file per RX queue). direction "out": plaintext IPv4/UDP
    entering the protected port, 10.10.0.2 -> 10.20.x (one /32 per SA); "in": ESP from
    the peer (tunnel 192.0.2.2 -> 192.0.2.1) carrying 10.20.x -> 10.10.0.2, SPI per SA.
    Every SA carries traffic (frames walk the SAs round-robin; at least n_sas frames).
    With queues > 1, queue_of(sa index) -> queue steers each SA's frames to one file
    (what a NIC's flow steering would do). Cached by name in outdir."""
    if n_frames is None:
        n_frames = n_frames_for(size, n_sas)
    base = os.path.join(outdir, f"f2-{direction}-{suite}-{size}-{n_sas}")
    if n_frames != n_frames_for(size, n_sas):
        base += f"-{n_frames}fr"
    if encap == "udp" and direction == "in":  # encrypt input is plaintext either way
        base += "-udp"
    paths = [base + ".pcap"] if queues == 1 else [f"{base}-q{q}of{queues}.pcap" for q in range(queues)]
    if all(os.path.exists(p) for p in paths):
        return paths[0] if queues == 1 else paths
    fr = frames(suite, size, n_sas, direction, n_frames, encap)
    if queues == 1:
        write_raw(paths[0], (b for _, b in fr))
        return paths[0]
    split = [[b for j, b in fr if queue_of(j) == q] for q in range(queues)]
    if not all(split):
        # Fewer SAs than queues (1 SA): spread frames round-robin as RSS over flows
        # would; the owner rule hands the other queues' packets to the SA's worker.
        split = [[b for k, (_, b) in enumerate(fr) if k % queues == q] for q in range(queues)]
    for q in range(queues):
        write_raw(paths[q], split[q])
    return paths


def write(path, frames_):
    w = PcapWriter(path, linktype=1, sync=False)
    for f in frames_:
        w.write(f)
    w.close()


def selftest():
    """The fast generator against scapy: plaintext frames identical but for the UDP
    checksum; ESP frames decrypt with scapy's SA to the same inner packet."""
    for suite in SUITES:
        fr = frames(suite, "imix", 3, "in", 12)
        for i, (j, b) in enumerate(fr):
            sa = make_sa(suite, j, "in")
            ip = IP(b[14:])
            inner = sa.decrypt(ip)
            want = bytes(inner_packet(size_list("imix")[i % 12], inner_dst(j), SRC_INNER, i))
            got = bytes(inner)
            assert got[:26] == want[:26] and got[28:] == want[28:], (suite, i)
    # ESP in UDP 4500 (RFC 3948): the same ESP after an 8-byte UDP header.
    fu = frames("aes128gcm", "64", 2, "in", 4, encap="udp")
    for i, (j, b) in enumerate(fu):
        ip = IP(b[14:])
        assert ip.proto == 17 and ip[UDP].sport == 4500 and ip[UDP].dport == 4500, i
        esp_ip = IP(src=ip.src, dst=ip.dst, proto=50) / bytes(ip[UDP].payload)
        got = bytes(make_sa("aes128gcm", j, "in").decrypt(IP(bytes(esp_ip))))
        want = bytes(inner_packet(64, inner_dst(j), SRC_INNER, i))
        assert got[:26] == want[:26] and got[28:] == want[28:], ("udp", i)
    fo = frames("aes128gcm", "64", 2, "out", 4)
    for i, (j, b) in enumerate(fo):
        want = bytes(Ether(dst=MAC_GW_IN, src=MAC_LAN) / inner_packet(64, SRC_INNER, inner_dst(j), i))
        assert b[:40] == want[:40] and b[42:] == want[42:], i
    return True


def make_scapy(outdir, suite, size, n_sas, direction, n_frames=None):
    """The original scapy generator (kept to cross-check the fast one: byte-identical
    plaintext headers, ESP that both decrypt)."""
    cyc = size_list(size)
    if n_frames is None:
        n_frames = n_frames_for(size, n_sas)
    path = os.path.join(outdir, f"{direction}-{suite}-{size}-{n_sas}.pcap")
    if os.path.exists(path):
        return path
    frames_ = []
    sas = {}
    for i in range(n_frames):
        j = i % n_sas
        if direction == "out":
            inner = inner_packet(cyc[i % len(cyc)], SRC_INNER, inner_dst(j), i)
            frames_.append(Ether(dst=MAC_GW_IN, src=MAC_LAN) / inner)
        else:
            inner = inner_packet(cyc[i % len(cyc)], inner_dst(j), SRC_INNER, i)
            sa = sas.get(j)
            if sa is None:
                sa = make_sa(suite, j, "in")
                sas[j] = sa
            esp = sa.encrypt(inner)
            frames_.append(Ether(dst=MAC_GW_OUT, src=MAC_PEER) / IP(bytes(esp)))
    write(path, frames_)
    return path


def make_sa(suite, j, direction):
    s = SUITES[suite]
    km = keymat(suite, j, direction)
    kw = dict(crypt_algo=s["scapy_crypt"], crypt_key=km[:s["enc"]])
    if s["scapy_auth"]:
        kw.update(auth_algo=s["scapy_auth"], auth_key=km[s["enc"]:])
    hdr = IP(src=TUN_PEER, dst=TUN_GW) if direction == "in" else IP(src=TUN_GW, dst=TUN_PEER)
    return SecurityAssociation(ESP, spi=spi_for(j, direction), tunnel_header=hdr, **kw)

#!/usr/bin/python3
"""Byte-exact interop of espgw's ESP transform with scapy's ESP, over a real socket path.

Two network namespaces joined by a veth pair:

    eiop-peer (this script: scapy, AF_PACKET socket)  eiop-peer0 ==== eiop-gw0  eiop-gw (esp_reflector)

For every case the script starts test/interop esp_reflector in eiop-gw with two
static SAs. scapy encrypts inner packets (ICMP echo / UDP, random payloads of several
sizes) and sends them on the veth; the reflector decrypts them with espgw's transform
(proves espgw accepts scapy's ESP), re-encrypts the same inner packet with its
outbound SA and sends it back. The script then
  1. decrypts the reply with scapy (proves scapy accepts espgw's ESP) and checks the
     inner packet equals what it sent;
  2. re-encrypts that inner packet with scapy using the sequence number and IV read
     from espgw's packet, and compares the whole IP packet byte for byte (outer
     header, UDP header, ESP header, IV, ciphertext with padding and trailer, ICV).
Outer header fields that are the implementation's own choice (IPv4 ID) are taken from
espgw's packet; everything else (TTL 64, DSCP/ECN copy per RFC 6040 §4.1, DF copy per
RFC 4301 §8.1, flow label 0, UDP checksum 0 over IPv4 / a valid one over IPv6) is
expected independently.

scapy 2.5 gaps, covered here with python-cryptography instead (still independent of
espgw's code):
  - no ENCR_NULL_AUTH_AES_GMAC (RFC 4543): GmacAlgo below implements it;
  - ESP with HMAC ignores ESN: scapy's AuthAlgo.sign/verify never append seq_hi for
    ESP (RFC 4303 §3.3.2.1 requires it): EsnHmac below does;
  - ESP-in-UDP: scapy writes UDP length 8 over IPv4 (it rebuilds the IP header
    before adding the ESP payload), checksum 0 also over IPv6, and cannot decrypt
    IPv6 transport mode with a UDP header; the script rebuilds the UDP header and
    strips it (after checking it) before decrypting.

Also: encrypt-only cases (reflector --mode encrypt: plaintext in, ESP out), echo
cases (--mode echo: ICMP echo request in, echo reply out, as the kernel-XFRM test
uses), ECN (outer CE over an ECT inner marks the inner CE, RFC 6040 §4.2), negative
cases (tampered ICV, replay, each dropped with its reason while later
packets still pass), the non-ESN sequence limit (seq_overflow), and the OpenSSL engine.

Prints one "TESTCASE PASS|FAIL name[: reason]" line per case; exits 1 if any failed.
  scapy_esp_interop.py [--build-dir build] [--only SUBSTR] [--summary] [--list]
"""
import argparse
import atexit
import collections
import ctypes
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import logging
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from cryptography.exceptions import InvalidTag  # noqa: E402
from cryptography.hazmat.primitives import hmac  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from scapy.config import conf  # noqa: E402
from scapy.compat import raw  # noqa: E402
from scapy.layers.inet import IP, ICMP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest, ICMPv6EchoReply  # noqa: E402
from scapy.layers.ipsec import (  # noqa: E402
    AUTH_ALGOS, CRYPT_ALGOS, ESP, AuthAlgo, CryptAlgo, IPSecIntegrityError,
    SecurityAssociation, _ESPPlain)
from scapy.packet import Raw  # noqa: E402

conf.verb = 0

PREFIX = "eiop"
NS_GW = f"{PREFIX}-gw"
NS_PEER = f"{PREFIX}-peer"
IF_GW = f"{PREFIX}-gw0"
IF_PEER = f"{PREFIX}-peer0"
MAC_GW = "02:e1:0b:00:00:01"
MAC_PEER = "02:e1:0b:00:00:02"

# Outer (tunnel endpoint / transport) addresses and inner (tunnelled) addresses.
# No address is configured on either interface: the kernels stay out of the way
# (packets not addressed to them are dropped, forwarding is off, IPv6 is disabled).
GW4, PEER4 = "192.0.2.1", "192.0.2.2"
GW6, PEER6 = "2001:db8:e10::1", "2001:db8:e10::2"
IN4_SRC, IN4_DST = "10.71.0.2", "10.72.0.9"
IN6_SRC, IN6_DST = "fd00:71::2", "fd00:72::9"

SPI_TO_GW = 0x0E100001    # scapy -> espgw (the reflector's inbound SA)
SPI_FROM_GW = 0x0E100002  # espgw -> scapy (the reflector's outbound SA)

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
REPLY_TIMEOUT_S = 1.0
NO_REPLY_WAIT_S = 0.3


# ---------------------------------------------------------------------------------
# Algorithms scapy 2.5 lacks (see the module docstring).

class GmacAlgo(CryptAlgo):
    """ENCR_NULL_AUTH_AES_GMAC (RFC 4543): AES-GCM with an empty plaintext; the AAD is
    SPI || seq (|| seq_hi before seq with ESN, §3.3) || IV || payload || padding ||
    pad length || next header; the ICV is the 16-byte GCM tag; nonce = salt || IV."""

    def __init__(self):
        super().__init__("AES-NULL-GMAC", cipher=AESGCM, mode=None, key_size=(16, 32),
                         block_size=1, iv_size=8, icv_size=16, salt_size=4)

    @staticmethod
    def _aad(spi, seq, esn_en, esn, iv, clear):
        head = struct.pack("!LLL", spi, esn, seq) if esn_en else struct.pack("!LL", spi, seq)
        return head + iv + clear

    def encrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        clear = esp.data_for_encryption()
        tag = AESGCM(key).encrypt(sa.crypt_salt + esp.iv, b"",
                                  self._aad(esp.spi, esp.seq, esn_en, esn, esp.iv, clear))
        return ESP(spi=esp.spi, seq=esp.seq, data=esp.iv + clear + tag)

    def decrypt(self, sa, esp, key, icv_size=None, esn_en=False, esn=0):
        iv, clear, icv = esp.data[:8], esp.data[8:-16], esp.data[-16:]
        try:
            AESGCM(key).decrypt(sa.crypt_salt + iv, icv,
                                self._aad(esp.spi, esp.seq, esn_en, esn, iv, clear))
        except InvalidTag as err:
            raise IPSecIntegrityError(err)
        padlen, nh = clear[-2], clear[-1]
        return _ESPPlain(spi=esp.spi, seq=esp.seq, iv=iv, data=clear[:len(clear) - padlen - 2],
                         padding=clear[len(clear) - padlen - 2:-2], padlen=padlen, nh=nh, icv=icv)


CRYPT_ALGOS["AES-NULL-GMAC"] = GmacAlgo()


class EsnHmac(AuthAlgo):
    """HMAC for ESP that appends seq_hi to the authenticated data when the SA uses ESN
    (RFC 4303 §3.3.2.1 / §3.4.4.1), reading esn_en/esn from its SecurityAssociation."""

    def __init__(self, base, sa):
        super().__init__(base.name, base.mac, base.digestmod, base.icv_size, base.key_size)
        self.sa = sa

    def _mac(self, key, data):
        h = hmac.HMAC(key, self.digestmod())
        h.update(data + (struct.pack("!L", self.sa.esn) if self.sa.esn_en else b""))
        return h.finalize()[:self.icv_size]

    def sign(self, pkt, key, esn_en=False, esn=0):
        pkt[ESP].data += self._mac(key, raw(pkt[ESP]))
        return pkt

    def verify(self, pkt, key, esn_en=False, esn=0):
        icv = pkt.data[len(pkt.data) - self.icv_size:]
        clone = pkt.copy()
        clone.data = clone.data[:len(clone.data) - self.icv_size]
        if self._mac(key, raw(clone)) != icv:
            raise IPSecIntegrityError("HMAC mismatch")


# ---------------------------------------------------------------------------------
# The matrix.

# name: (espgw cipher, espgw integ, scapy crypt, scapy auth, keymat bytes, auth key bytes)
SUITES = collections.OrderedDict([
    ("gcm128", ("aes128gcm16", None, "AES-GCM", None, 16 + 4, 0)),
    ("gcm256", ("aes256gcm16", None, "AES-GCM", None, 32 + 4, 0)),
    ("chacha20poly1305", ("chacha20poly1305", None, "CHACHA20-POLY1305", None, 32 + 4, 0)),
    ("gmac128", ("aes128gmac", None, "AES-NULL-GMAC", None, 16 + 4, 0)),
    ("gmac256", ("aes256gmac", None, "AES-NULL-GMAC", None, 32 + 4, 0)),
    ("cbc128-sha1", ("aes128", "sha1", "AES-CBC", "HMAC-SHA1-96", 16, 20)),
    ("cbc128-sha256", ("aes128", "sha256", "AES-CBC", "SHA2-256-128", 16, 32)),
    ("cbc128-sha512", ("aes128", "sha512", "AES-CBC", "SHA2-512-256", 16, 64)),
    ("cbc256-sha1", ("aes256", "sha1", "AES-CBC", "HMAC-SHA1-96", 32, 20)),
    ("cbc256-sha256", ("aes256", "sha256", "AES-CBC", "SHA2-256-128", 32, 32)),
    ("cbc256-sha512", ("aes256", "sha512", "AES-CBC", "SHA2-512-256", 32, 64)),
])

# mode: (esp mode, outer family, inner family)
MODES = collections.OrderedDict([
    ("tunnel-4in4", ("tunnel", 4, 4)),
    ("tunnel-6in6", ("tunnel", 6, 6)),
    ("tunnel-4in6", ("tunnel", 6, 4)),
    ("tunnel-6in4", ("tunnel", 4, 6)),
    ("transport-4", ("transport", 4, 4)),
    ("transport-6", ("transport", 6, 6)),
])

ESN_START = (1 << 32) - 3  # last used: packets go 2^32-2, 2^32-1, 2^32, 2^32+1, ...


class Case:
    def __init__(self, suite, mode, udp=False, esn=False, kind="reflect", engine="mb",
                 npkts=6, in_start=0x100, out_start=0x7ffffff0):
        self.suite, self.mode, self.udp, self.esn = suite, mode, udp, esn
        self.kind, self.engine, self.npkts = kind, engine, npkts
        self.in_start, self.out_start = in_start, out_start
        if esn:
            self.in_start = self.out_start = ESN_START
        parts = [suite, mode, "udp" if udp else "esp", "esn" if esn else "noesn"]
        if kind != "reflect":
            parts.append(kind)
        if engine != "mb":
            parts.append(engine)
        self.name = "/".join(parts)


def build_matrix():
    cases = []
    # Every algorithm in every mode, plain ESP, 32-bit sequence numbers.
    for s in SUITES:
        for m in MODES:
            cases.append(Case(s, m))
    # UDP encapsulation, ESN across 2^32, both: one AEAD and one CBC suite, every mode.
    for s in ("gcm128", "cbc128-sha256"):
        for m in MODES:
            cases.append(Case(s, m, udp=True))
            cases.append(Case(s, m, esn=True))
            cases.append(Case(s, m, udp=True, esn=True))
    # Every other algorithm at least once with UDP + ESN (GMAC+ESN, HMAC+ESN paths).
    for s in SUITES:
        if s not in ("gcm128", "cbc128-sha256"):
            cases.append(Case(s, "tunnel-4in6", udp=True, esn=True))
            cases.append(Case(s, "transport-4", esn=True))
    # The OpenSSL engine: every algorithm once, ESN and UDP on.
    for s in SUITES:
        cases.append(Case(s, "tunnel-6in4", udp=True, esn=True, engine="openssl"))
    # espgw -> scapy on its own: plaintext in, ESP out.
    for s in SUITES:
        cases.append(Case(s, "tunnel-4in4", kind="encrypt"))
    for s in ("gcm128", "cbc256-sha512"):
        cases.append(Case(s, "transport-6", udp=True, esn=True, kind="encrypt"))
    # Echo responder (what the kernel-XFRM test pings).
    cases.append(Case("gcm128", "tunnel-4in4", kind="echo"))
    cases.append(Case("cbc128-sha256", "transport-6", udp=True, kind="echo"))
    cases.append(Case("chacha20poly1305", "tunnel-6in4", esn=True, kind="echo"))
    # RFC 6040 §4.2 decapsulation: outer CE over ECT inner marks the inner CE.
    cases.append(Case("gcm128", "tunnel-4in4", kind="ecn"))
    cases.append(Case("gcm128", "tunnel-4in6", kind="ecn"))
    cases.append(Case("cbc128-sha256", "tunnel-6in4", udp=True, kind="ecn"))
    # Drops: tampered ICV/ciphertext, replay; later packets still pass.
    for s in ("gcm128", "cbc128-sha256", "gmac128"):
        cases.append(Case(s, "tunnel-4in4", esn=True, kind="neg"))
    # Non-ESN sequence space end: 2^32-1 is the last number sent (RFC 4303 §3.3.3).
    for s in ("gcm128", "cbc128-sha1"):
        cases.append(Case(s, "tunnel-6in6", kind="seqlimit", npkts=3,
                          in_start=0xfffffffc, out_start=0xfffffffd))
    return cases


# ---------------------------------------------------------------------------------
# Namespaces and the raw socket.

def sh(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {(p.stderr or p.stdout).strip()}")
    return p


def cleanup_namespaces():
    for ns in (NS_GW, NS_PEER):
        sh("ip", "netns", "del", ns, check=False)


def setup_namespaces():
    cleanup_namespaces()
    for ns in (NS_GW, NS_PEER):
        sh("ip", "netns", "add", ns)
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.ip_forward=0")
    sh("ip", "link", "add", IF_GW, "netns", NS_GW, "address", MAC_GW, "type", "veth",
       "peer", "name", IF_PEER, "netns", NS_PEER, "address", MAC_PEER)
    sh("ip", "-n", NS_GW, "link", "set", IF_GW, "up")
    sh("ip", "-n", NS_PEER, "link", "set", IF_PEER, "up")


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def open_peer_socket():
    """An AF_PACKET socket on IF_PEER, created inside NS_PEER (a socket keeps the
    namespace it was created in)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{NS_PEER}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns(eiop-peer)")
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((IF_PEER, ETH_P_ALL))
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns(back)")
    finally:
        os.close(own)
        os.close(target)
    s.setblocking(False)
    return s


class Wire:
    """Sends L3 packets to the gateway's MAC and receives L3 packets from it."""

    def __init__(self):
        self.sock = open_peer_socket()
        self.eth_hdr4 = bytes.fromhex(MAC_GW.replace(":", "")) + \
            bytes.fromhex(MAC_PEER.replace(":", "")) + b"\x08\x00"
        self.eth_hdr6 = self.eth_hdr4[:12] + b"\x86\xdd"
        self.sent = 0
        self.received = 0

    def drain(self):
        while True:
            try:
                self.sock.recvfrom(65600)
            except BlockingIOError:
                return

    def send(self, l3):
        hdr = self.eth_hdr6 if (l3[0] >> 4) == 6 else self.eth_hdr4
        self.sock.send(hdr + l3)
        self.sent += 1

    def recv_esp(self, spi, timeout):
        """The next ESP / ESP-in-UDP packet with `spi` from the gateway, as L3 bytes,
        or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                frame, addr = self.sock.recvfrom(65600)
            except BlockingIOError:
                continue
            if addr[2] == PACKET_OUTGOING or len(frame) < 14:
                continue
            etype = struct.unpack("!H", frame[12:14])[0]
            if etype not in (0x0800, 0x86DD):
                continue
            l3 = frame[14:]
            if esp_spi(l3) == spi:
                self.received += 1
                return l3


def esp_spi(l3):
    """SPI of an ESP or ESP-in-UDP (port 4500) packet, else None. IPv6 without
    extension headers only (all this script sends)."""
    try:
        if l3[0] >> 4 == 4:
            off, proto = (l3[0] & 15) * 4, l3[9]
        else:
            off, proto = 40, l3[6]
        if proto == 17:
            if struct.unpack("!H", l3[off + 2:off + 4])[0] != 4500:
                return None
            off += 8
        elif proto != 50:
            return None
        return struct.unpack("!L", l3[off:off + 4])[0]
    except (IndexError, struct.error):
        return None


# ---------------------------------------------------------------------------------
# The reflector process.

class Reflector:
    def __init__(self, binary, case, keys):
        self.lines = []
        self.counters = {}
        self.case = case
        args = ["ip", "netns", "exec", NS_GW, binary, "--iface", IF_GW,
                "--mode", {"neg": "reflect", "seqlimit": "reflect", "ecn": "reflect"}.get(case.kind, case.kind),
                "--engine", case.engine,
                "--out", sa_spec(case, keys, outbound=True)]
        if case.kind != "encrypt":
            args += ["--in", sa_spec(case, keys, outbound=False)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        deadline = time.monotonic() + 5
        while True:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0, deadline - time.monotonic()))
            line = self.proc.stdout.readline() if r else ""
            if line:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("ready"):
                    break
                continue
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("reflector did not start: " + " | ".join(self.lines[-5:]))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "reader", None):
            self.reader.join(timeout=2)
        for line in self.lines:
            if line.startswith("counters "):
                self.counters = {k: int(v) for k, v in
                                 (kv.split("=", 1) for kv in line.split()[1:])}
        return self.proc.returncode

    def drops_logged(self):
        return [m.group(1) for m in (re.search(r" drop=(\w+)", l) for l in self.lines) if m]

    def tail(self, n=4):
        return " | ".join(self.lines[-n:])


def sa_spec(case, keys, outbound):
    cipher, integ, _, _, _, _ = SUITES[case.suite]
    mode, outer, _ = MODES[case.mode]
    key, authkey = keys["out" if outbound else "in"]
    items = [f"spi={SPI_FROM_GW if outbound else SPI_TO_GW:#x}", f"cipher={cipher}",
             f"keymat={key.hex()}", f"mode={mode}", f"esn={int(case.esn)}",
             f"udp={int(case.udp)}",
             f"seq={case.out_start if outbound else case.in_start}"]
    if integ:
        items += [f"integ={integ}", f"authkey={authkey.hex()}"]
    if outbound and mode == "tunnel":
        items += [f"src={GW4 if outer == 4 else GW6}", f"dst={PEER4 if outer == 4 else PEER6}"]
    return ",".join(items)


# ---------------------------------------------------------------------------------
# scapy's side.

def make_sa(case, key, authkey, spi, tunnel_header):
    _, _, crypt, auth, _, _ = SUITES[case.suite]
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo=crypt, crypt_key=key,
                             auth_algo=auth, auth_key=authkey if auth else None,
                             tunnel_header=tunnel_header,
                             nat_t_header=UDP(sport=4500, dport=4500) if case.udp else None,
                             esn_en=case.esn, esn=0)
    if auth:
        sa.auth_algo = EsnHmac(AUTH_ALGOS[auth], sa)
    return sa


def scapy_encrypt(sa, inner, seq, iv=None):
    """ESP-encrypts `inner` with the full 64-bit `seq`; returns L3 bytes (with a valid
    UDP checksum over IPv6, RFC 8200 §8.1)."""
    lo, hi = seq & 0xffffffff, seq >> 32
    sa.seq_num, sa.esn = lo, hi
    out = sa.encrypt(inner, seq_num=lo, iv=iv, esn=hi)
    if out.haslayer(UDP):
        # scapy 2.5 freezes the UDP length at 8 (it rebuilds the IPv4 header before
        # adding the ESP payload) and always writes checksum 0.
        # RFC 3948 §2.1 / RFC 8200 §8.1: rebuild the UDP header.
        l3 = raw(out)
        v4 = out.version == 4
        off = (l3[0] & 15) * 4 if v4 else 40
        hdr = (IP if v4 else IPv6)(l3[:off])
        if v4:
            del hdr.len, hdr.chksum
        else:
            del hdr.plen
        return raw(hdr / UDP(sport=4500, dport=4500, chksum=0 if v4 else None) / Raw(l3[off + 8:]))
    return raw(out)


def strip_udp(l3):
    """Checks the ESP-in-UDP header (RFC 3948 §2.1: ports 4500, length, checksum 0 over
    IPv4 / valid over IPv6) and returns the packet as plain ESP (what scapy decrypts).
    Raises ValueError on a bad header."""
    p = IP(l3) if l3[0] >> 4 == 4 else IPv6(l3)
    u = p[UDP]
    if (u.sport, u.dport) != (4500, 4500):
        raise ValueError(f"UDP ports {u.sport}->{u.dport}, want 4500->4500")
    if u.len != len(raw(u)):
        raise ValueError(f"UDP length {u.len} != {len(raw(u))}")
    if p.version == 4 and u.chksum != 0:
        raise ValueError(f"UDP checksum {u.chksum:#x} over IPv4, RFC 3948 sends 0")
    if p.version == 6:
        want = IPv6(raw(p))
        want[UDP].chksum = None
        want = IPv6(raw(want))
        if u.chksum != want[UDP].chksum:
            raise ValueError(f"UDP/IPv6 checksum {u.chksum:#x}, want {want[UDP].chksum:#x}")
    esp = raw(u.payload)
    hdr = p.copy()
    hdr.remove_payload()
    if p.version == 4:
        hdr.proto = 50
        del hdr.len, hdr.chksum
        return IP(raw(hdr / Raw(esp)))
    hdr.nh = 50
    del hdr.plen
    return IPv6(raw(hdr / Raw(esp)))


def inner_packets(case, rng):
    """The inner (tunnel) or transport packets scapy sends, as bytes."""
    mode, _, fam = MODES[case.mode]
    if mode == "transport":
        src, dst = (PEER4, GW4) if fam == 4 else (PEER6, GW6)
    else:
        src, dst = (IN4_SRC, IN4_DST) if fam == 4 else (IN6_SRC, IN6_DST)
    sizes = [0, 1, 2, 3, 13, 64, 255, 1000, 1300]
    rng.shuffle(sizes)
    pkts = []
    for i in range(case.npkts):
        data = bytes(rng.getrandbits(8) for _ in range(sizes[i % len(sizes)]))
        tos = rng.choice([0, 0xb8, 0x28 | 2, 0x01, 0x03])  # DSCP and ECN variety
        if case.kind == "ecn":
            tos = rng.choice([0x02, 0xba, 0x01, 0x29])   # ECT(0) / ECT(1) only
        echo = case.kind == "echo" or i % 2 == 0
        if fam == 4:
            ip = IP(src=src, dst=dst, tos=tos, id=rng.getrandbits(16), ttl=rng.choice([64, 17]),
                    flags="DF" if rng.random() < 0.5 else 0)
            l4 = ICMP(type=8, id=rng.getrandbits(16), seq=i) if echo else \
                UDP(sport=rng.randint(40000, 49999), dport=9999)
        else:
            ip = IPv6(src=src, dst=dst, tc=tos, fl=rng.getrandbits(20), hlim=rng.choice([64, 17]))
            l4 = ICMPv6EchoRequest(id=rng.getrandbits(16), seq=i) if echo else \
                UDP(sport=rng.randint(40000, 49999), dport=9999)
        pkts.append(raw(ip / l4 / Raw(data)))
    return pkts


def echo_reply(inner):
    """What an echo responder answers to the echo request `inner` (bytes)."""
    if inner[0] >> 4 == 4:
        p = IP(inner)
        q = IP(src=p.dst, dst=p.src, tos=p.tos, id=p.id, flags=p.flags, ttl=p.ttl) / \
            ICMP(type=0, id=p[ICMP].id, seq=p[ICMP].seq) / Raw(raw(p[ICMP].payload))
    else:
        p = IPv6(inner)
        e = p[ICMPv6EchoRequest]
        q = IPv6(src=p.dst, dst=p.src, tc=p.tc, fl=p.fl, hlim=p.hlim) / \
            ICMPv6EchoReply(id=e.id, seq=e.seq, data=e.data)
    return raw(q)


def ce_marked(inner):
    """`inner` with its ECN field set to CE (RFC 6040 §4.2 decapsulation result)."""
    if inner[0] >> 4 == 4:
        p = IP(inner)
        p.tos |= 3
        p.chksum = None
    else:
        p = IPv6(inner)
        p.tc |= 3
    return raw(p)


def expected_outer(case, inner, reply):
    """Tunnel mode: the outer header espgw should write for `inner`, with the IPv4 ID
    (the implementation's choice) taken from espgw's `reply`."""
    _, outer, _ = MODES[case.mode]
    tos = inner[1] if inner[0] >> 4 == 4 else ((inner[0] & 0x0f) << 4) | (inner[1] >> 4)
    if outer == 4:
        # RFC 4301 §8.1 DF copy (IPv6 inner: set); RFC 6040 §4.1 normal mode ECN copy.
        df = inner[0] >> 4 == 6 or bool(struct.unpack("!H", inner[6:8])[0] & 0x4000)
        rid = struct.unpack("!H", reply[4:6])[0]
        return IP(src=GW4, dst=PEER4, tos=tos, id=rid, flags="DF" if df else 0, ttl=64)
    return IPv6(src=GW6, dst=PEER6, tc=tos, fl=0, hlim=64)


def run_case(case, binary, wire, stats):
    rng = random.Random(case.name)
    _, _, crypt, auth, klen, alen = SUITES[case.suite]
    keys = {d: (bytes(rng.getrandbits(8) for _ in range(klen)),
                bytes(rng.getrandbits(8) for _ in range(alen))) for d in ("in", "out")}
    mode, outer, fam = MODES[case.mode]
    tunnel = mode == "tunnel"
    ecn_outer = 3 if case.kind == "ecn" else 0  # CE on the outer header
    to_gw_hdr = (IP(src=PEER4, dst=GW4, tos=ecn_outer) if outer == 4 else
                 IPv6(src=PEER6, dst=GW6, tc=ecn_outer)) if tunnel else None
    tx_sa = make_sa(case, keys["in"][0], keys["in"][1], SPI_TO_GW, to_gw_hdr)
    rx_sa = make_sa(case, keys["out"][0], keys["out"][1], SPI_FROM_GW,
                    (IP() if outer == 4 else IPv6()) if tunnel else None)
    exp_sa = make_sa(case, keys["out"][0], keys["out"][1], SPI_FROM_GW, None)
    iv_size = CRYPT_ALGOS[crypt].iv_size
    st = stats.setdefault(case.suite, {"to_gw": 0, "from_gw": 0, "cases": 0, "failed": 0})
    st["cases"] += 1

    wire.drain()
    refl = Reflector(binary, case, keys)
    errors = []
    want = {"decrypted": 0, "tx": 0}
    want_drops = collections.Counter()
    try:
        pkts = inner_packets(case, rng)
        first_wire = None
        for i, inner in enumerate(pkts):
            seq_in = case.in_start + 1 + i
            seq_out = case.out_start + 1 + want["tx"]
            ip_inner = IP(inner) if fam == 4 else IPv6(inner)
            wire_pkt = inner if case.kind == "encrypt" else scapy_encrypt(tx_sa, ip_inner, seq_in)
            first_wire = first_wire or wire_pkt
            wire.send(wire_pkt)
            st["to_gw"] += 1
            if case.kind != "encrypt":
                want["decrypted"] += 1
            bad_sent = False
            if case.kind == "neg" and i in (1, 3, 4):
                # After the good packet: 1 = last ICV byte flipped, 3 = a ciphertext
                # byte flipped (both at a fresh seq), 4 = packet 0 again (replay).
                if i == 4:
                    bad = first_wire
                    want_drops["replay_duplicate"] += 1
                else:
                    bad = bytearray(scapy_encrypt(tx_sa, ip_inner, seq_in + 1000 + i))
                    bad[-1 if i == 1 else -40] ^= 0x5A
                    want_drops["icv_mismatch"] += 1
                wire.send(bytes(bad))
                st["to_gw"] += 1
                bad_sent = True
            if case.kind == "seqlimit" and seq_out > 0xFFFFFFFF:
                if wire.recv_esp(SPI_FROM_GW, NO_REPLY_WAIT_S) is not None:
                    errors.append(f"pkt {i}: reply after seq 2^32-1 without ESN")
                want_drops["seq_overflow"] += 1
                continue
            reply = wire.recv_esp(SPI_FROM_GW, REPLY_TIMEOUT_S)
            if reply is None:
                errors.append(f"pkt {i}: no reply (reflector: {refl.tail()})")
                break
            want["tx"] += 1
            st["from_gw"] += 1
            if bad_sent and wire.recv_esp(SPI_FROM_GW, NO_REPLY_WAIT_S) is not None:
                errors.append(f"pkt {i}: a reply to a tampered or replayed packet")
            err = check_reply(case, reply, inner, seq_out, rx_sa, exp_sa, iv_size, tunnel)
            if err:
                errors.append(f"pkt {i} ({len(inner)} B inner, seq {seq_out:#x}): {err}")
                break
    finally:
        rc = refl.stop()
    if not errors:
        c = refl.counters
        if rc != 0:
            errors.append(f"reflector exit code {rc}")
        elif not c:
            errors.append("reflector printed no counters")
        else:
            if case.kind != "encrypt" and c.get("decrypted") != want["decrypted"]:
                errors.append(f"reflector decrypted {c.get('decrypted')}, want {want['decrypted']}")
            if c.get("tx") != want["tx"]:
                errors.append(f"reflector sent {c.get('tx')}, want {want['tx']}")
            got_drops = collections.Counter(refl.drops_logged())
            if got_drops != want_drops:
                errors.append(f"drops {dict(got_drops)}, want {dict(want_drops)}")
            for reason, n in want_drops.items():
                if c.get(f"drop_{reason}") != n:
                    errors.append(f"counter drop_{reason}={c.get(f'drop_{reason}')}, want {n}")
    if errors:
        st["failed"] += 1
        print(f"TESTCASE FAIL {case.name}: {'; '.join(errors)}", flush=True)
        return False
    print(f"TESTCASE PASS {case.name}", flush=True)
    return True


def check_reply(case, reply, inner, seq_out, rx_sa, exp_sa, iv_size, tunnel):
    """Returns None when espgw's `reply` is right, else why not."""
    _, outer, _ = MODES[case.mode]
    if reply[0] >> 4 != outer:
        return f"outer IP version {reply[0] >> 4}, want {outer}"
    try:
        plain_esp = strip_udp(reply) if case.udp else (IP(reply) if outer == 4 else IPv6(reply))
    except ValueError as e:
        return str(e)
    if not case.udp and plain_esp.haslayer(UDP):
        return "unexpected UDP encapsulation"
    esp = plain_esp[ESP]
    if esp.seq != seq_out & 0xffffffff:
        return f"ESP seq {esp.seq:#x}, want {seq_out & 0xffffffff:#x}"
    want_inner = echo_reply(inner) if case.kind == "echo" else \
        ce_marked(inner) if case.kind == "ecn" else inner
    # 1. scapy decrypts espgw's packet.
    rx_sa.seq_num, rx_sa.esn = 0, seq_out >> 32
    try:
        dec = rx_sa.decrypt(plain_esp.copy(), esn=seq_out >> 32)
    except IPSecIntegrityError as e:
        return f"scapy: ICV check failed ({e})"
    except Exception as e:  # scapy raises assorted errors on garbage
        return f"scapy could not decrypt: {type(e).__name__}: {e}"
    if raw(dec) != want_inner:
        return f"decrypted inner differs: got {raw(dec).hex()[:120]}, want {want_inner.hex()[:120]}"
    # 2. scapy re-encrypts with espgw's seq and IV: the whole packet must match.
    iv = bytes(esp.data[:iv_size])
    exp_sa.tunnel_header = expected_outer(case, want_inner, reply) if tunnel else None
    ip = IP(want_inner) if want_inner[0] >> 4 == 4 else IPv6(want_inner)
    expected = scapy_encrypt(exp_sa, ip, seq_out, iv=iv)
    if expected != reply:
        diff = next((j for j in range(min(len(expected), len(reply)))
                     if expected[j] != reply[j]), min(len(expected), len(reply)))
        return (f"not byte-exact: {len(reply)} B vs scapy's {len(expected)} B, first difference "
                f"at byte {diff}: espgw {reply[diff:diff + 16].hex()} scapy {expected[diff:diff + 16].hex()}")
    return None


# ---------------------------------------------------------------------------------

def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("ESPGW_BUILD_DIR", "build"),
                    help="meson build directory holding test/interop/esp_reflector")
    ap.add_argument("--only", action="append", default=[],
                    help="run only cases whose name contains this (repeatable)")
    ap.add_argument("--summary", action="store_true", help="per-algorithm summary at the end")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    args = ap.parse_args()

    cases = [c for c in build_matrix() if not args.only or any(o in c.name for o in args.only)]
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    build_dir = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(root, args.build_dir)
    binary = os.path.join(build_dir, "test", "interop", "esp_reflector")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(cleanup_namespaces)

    start = time.monotonic()
    if not os.access(binary, os.X_OK):
        print(f"TESTCASE FAIL scapy-interop/setup: no esp_reflector at {binary} (build it first)")
        return 1
    try:
        setup_namespaces()
        wire = Wire()
    except (RuntimeError, OSError) as e:
        print(f"TESTCASE FAIL scapy-interop/setup: namespaces: {e}")
        return 1

    stats = collections.OrderedDict()
    failed = 0
    try:
        for case in cases:
            try:
                ok = run_case(case, binary, wire, stats)
            except RuntimeError as e:  # the reflector did not start: a FAIL, never a skip
                print(f"TESTCASE FAIL {case.name}: {e}", flush=True)
                ok = False
            failed += 0 if ok else 1
    finally:
        cleanup_namespaces()

    dur = time.monotonic() - start
    if args.summary:
        print()
        print(f"{'algorithm':<18} {'cases':>5} {'scapy->espgw':>13} {'espgw->scapy':>13}  verdict")
        for suite, st in stats.items():
            verdict = "PASS" if st["failed"] == 0 else f"FAIL ({st['failed']} cases)"
            print(f"{suite:<18} {st['cases']:>5} {st['to_gw']:>13} {st['from_gw']:>13}  {verdict}")
        print(f"packets on the wire: {wire.sent} sent to espgw, {wire.received} ESP received back")
    print(f"scapy interop: {len(cases) - failed} passed, {failed} failed, {dur:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

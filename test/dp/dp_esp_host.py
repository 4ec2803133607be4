#!/usr/bin/python3
"""A small ESP host built on scapy's ESP, the independent peer of test/dp/dp_e2e_scapy.py.

Runs in the peer namespace. Packets the kernel routes into its TUN device are
encrypted with a static SA (scapy SecurityAssociation, tunnel mode) and sent to the
gateway as ESP (raw IP protocol 50 socket) or ESP-in-UDP (a UDP socket on port 4500,
RFC 3948); ESP it receives is decrypted with the other static SA and the inner packet
is written to the TUN. So plain `ping`, TCP and UDP sockets in the namespace go
through the tunnel.

  dp_esp_host.py daemon  --suite S --local A --remote B --tx-spi N --tx-key HEX
                         --rx-spi N --rx-key HEX [--udp] [--esn] --tun NAME
  dp_esp_host.py oneshot --kind replay|bitflip|fresh --seq N --src ADDR --dst ADDR ...

`oneshot` sends one ICMP echo request through the tx SA with an explicit sequence
number, optionally with one bit of the ciphertext flipped, and exits.
"""
import argparse
import fcntl
import logging
import os
import select
import socket
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import IP, IPv6, ICMP, Raw  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

SUITES = {
    # name: (crypt_algo, enc key bytes incl. salt, auth_algo, auth key bytes)
    "aes128gcm16": ("AES-GCM", 20, None, 0),
    "aes256gcm16": ("AES-GCM", 36, None, 0),
    "chacha20poly1305": ("CHACHA20-POLY1305", 36, None, 0),
    "aes128-sha256": ("AES-CBC", 16, "SHA2-256-128", 32),
    "aes256-sha256": ("AES-CBC", 32, "SHA2-256-128", 32),
    "aes128-sha1": ("AES-CBC", 16, "HMAC-SHA1-96", 20),
}

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def make_sa(suite, spi, keyhex, local, remote, esn, seq=1):
    crypt, ek, auth, ak = SUITES[suite]
    key = bytes.fromhex(keyhex)
    assert len(key) == ek + ak, f"key length {len(key)} != {ek + ak}"
    fam6 = ":" in local
    hdr = IPv6(src=local, dst=remote) if fam6 else IP(src=local, dst=remote)
    kw = dict(crypt_algo=crypt, crypt_key=key[:ek], tunnel_header=hdr, seq_num=seq)
    if auth:
        kw.update(auth_algo=auth, auth_key=key[ek:])
    if esn:
        kw.update(esn_en=True, esn=0)
    return SecurityAssociation(ESP, spi=spi, **kw)


def esp_payload(outer):
    """Bytes of the ESP header onward from scapy's encrypted outer packet."""
    return bytes(outer[ESP])


def open_sockets(args):
    fam = socket.AF_INET6 if ":" in args.local else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_RAW, 50)
    if fam == socket.AF_INET:
        raw.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: let the kernel fragment
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((args.local, 4500))
    if fam == socket.AF_INET:
        udp.setsockopt(socket.IPPROTO_IP, 10, 0)
    return fam, raw, udp


def send_esp(args, fam, raw, udp, esp):
    if args.udp:
        udp.sendto(esp, (args.remote, 4500))
    else:
        raw.sendto(esp, (args.remote, 0))


def outer_from_payload(args, esp):
    if ":" in args.local:
        return IPv6(bytes(IPv6(src=args.remote, dst=args.local, nh=50) / Raw(esp)))
    return IP(bytes(IP(src=args.remote, dst=args.local, proto=50) / Raw(esp)))


def daemon(args):
    tx = make_sa(args.suite, args.tx_spi, args.tx_key, args.local, args.remote, args.esn)
    rx = make_sa(args.suite, args.rx_spi, args.rx_key, args.remote, args.local, args.esn)
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", args.tun.encode(), IFF_TUN | IFF_NO_PI))
    fam, raw, udp = open_sockets(args)
    print(f"esp-host: ready tun={args.tun} suite={args.suite} udp={args.udp} esn={args.esn}", flush=True)
    stats = {"tx": 0, "rx": 0, "rx_bad": 0}
    while True:
        r, _, _ = select.select([tun, raw, udp], [], [])
        if tun in r:
            pkt = os.read(tun, 65535)
            v = pkt[0] >> 4
            inner = IP(pkt) if v == 4 else IPv6(pkt)
            out = tx.encrypt(inner)
            send_esp(args, fam, raw, udp, esp_payload(out))
            stats["tx"] += 1
        for s in (raw, udp):
            if s not in r:
                continue
            data, _ = s.recvfrom(65535)
            if s is raw and fam == socket.AF_INET:
                ihl = (data[0] & 0xF) * 4
                data = data[ihl:]
            if s is udp and (len(data) == 1 or data[:4] == b"\0\0\0\0"):
                continue  # keepalive / IKE
            if len(data) < 8 or struct.unpack("!I", data[:4])[0] != args.rx_spi:
                continue
            try:
                inner = rx.decrypt(outer_from_payload(args, data))
            except Exception as e:  # noqa: BLE001 - a bad packet must not stop the host
                stats["rx_bad"] += 1
                print(f"esp-host: decrypt failed: {e}", file=sys.stderr, flush=True)
                continue
            os.write(tun, bytes(inner))
            stats["rx"] += 1


def oneshot(args):
    tx = make_sa(args.suite, args.tx_spi, args.tx_key, args.local, args.remote, args.esn)
    fam, raw, udp = open_sockets(args)
    inner = IP(src=args.src, dst=args.dst) / ICMP(id=0x4242, seq=args.seq & 0xFFFF) / Raw(b"oneshot" * 8)
    out = tx.encrypt(inner, seq_num=args.seq)
    esp = bytearray(esp_payload(out))
    if args.kind == "bitflip":
        esp[8 + 8 + 3] ^= 0x01  # one bit of the ciphertext, after SPI, seq and IV
    send_esp(args, fam, raw, udp, bytes(esp))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["daemon", "oneshot"])
    ap.add_argument("--suite", required=True, choices=sorted(SUITES))
    ap.add_argument("--local", required=True)
    ap.add_argument("--remote", required=True)
    ap.add_argument("--tx-spi", type=lambda s: int(s, 0), required=True)
    ap.add_argument("--tx-key", required=True)
    ap.add_argument("--rx-spi", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--rx-key", default="")
    ap.add_argument("--udp", action="store_true")
    ap.add_argument("--esn", action="store_true")
    ap.add_argument("--tun", default="edp-tun")
    ap.add_argument("--kind", choices=["replay", "bitflip", "fresh"], default="fresh")
    ap.add_argument("--seq", type=int, default=1)
    ap.add_argument("--src", default="")
    ap.add_argument("--dst", default="")
    args = ap.parse_args()
    if args.mode == "daemon":
        daemon(args)
    else:
        oneshot(args)


if __name__ == "__main__":
    main()

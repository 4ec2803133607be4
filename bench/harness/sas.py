"""The bench's SAs: suites, deterministic keys, SPIs and inner destinations, shared by
the pcap generator and the per-peer configuration writers so every peer gets the
same SAs. Keys are fixed test keys derived from the SA index (benchmark only)."""
import hashlib
import ipaddress

# enc: bytes of cipher key (+ 4-byte salt for AEAD); auth: HMAC key bytes.
SUITES = {
    "aes128gcm": dict(espgw="aes128gcm16", enc=20, auth=0, scapy_crypt="AES-GCM", scapy_auth=None,
                      secgw="aead_algo aes-128-gcm aead_key {k}"),
    "aes256gcm": dict(espgw="aes256gcm16", enc=36, auth=0, scapy_crypt="AES-GCM", scapy_auth=None,
                      secgw="aead_algo aes-256-gcm aead_key {k}"),
    "chacha20poly1305": dict(espgw="chacha20poly1305", enc=36, auth=0, scapy_crypt="CHACHA20-POLY1305",
                             scapy_auth=None, secgw="aead_algo chacha20-poly1305 aead_key {k}"),
    "aes128cbc-sha256": dict(espgw="aes128-sha256", enc=16, auth=32, scapy_crypt="AES-CBC",
                             scapy_auth="SHA2-256-128",
                             secgw="cipher_algo aes-128-cbc cipher_key {k} auth_algo sha256-hmac auth_key {a}"),
}

# esp_micro's suite names for the same suites (its JSON "suite" field)
MICRO_NAMES = {"aes128gcm": "aes-gcm-128", "aes256gcm": "aes-gcm-256",
               "chacha20poly1305": "chacha20-poly1305", "aes128cbc-sha256": "aes-cbc-128+sha256"}


def keymat(suite, j, direction):
    s = SUITES[suite]
    n = s["enc"] + s["auth"]
    out = b""
    c = 0
    while len(out) < n:
        out += hashlib.sha256(f"espgw-bench/{suite}/{direction}/{j}/{c}".encode()).digest()
        c += 1
    return out[:n]


def spi_for(j, direction):
    return (0x1000 if direction == "out" else 0x20000000) + j + 1


def inner_dst(j):
    """Inner destination for SA j: 10.20.0.0/16 then onwards (one /32 per SA)."""
    return str(ipaddress.IPv4Address("10.20.0.1") + j)

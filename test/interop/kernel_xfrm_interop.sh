#!/usr/bin/env bash
# Interop of espgw's ESP transform with the Linux kernel's ESP (XFRM) as the peer.
#
#   eiop-kpeer: kernel XFRM states + policies, ping      eiop-kgw: esp_reflector --mode echo
#        eiop-kp0 (192.0.2.2, 2001:db8:e11::2) ==== eiop-kg0 (no address; static neighbour)
#
# For each case the kernel in eiop-kpeer encrypts ICMP echo requests from its inner
# address through an XFRM SA; esp_reflector decrypts them with espgw's transform,
# turns each into the echo reply and encrypts it with its outbound SA; the kernel
# must decrypt the replies and hand them to ping. Asserts every ping is answered and
# the reflector's counters agree.
#
# Many kernels (this project's test machines included) are built without ESP: the
# script first tries `ip xfrm state add ... aead rfc4106(gcm(aes))` in a throwaway
# namespace and, when that fails, prints exactly one line
#   TESTCASE SKIP kernel-xfrm: kernel has no ESP (<error text>)
# and exits 0.
#
# Env: ESPGW_BUILD_DIR (default build) holds test/interop/esp_reflector.
set -uo pipefail
cd "$(dirname "$0")/../.."

P=eiop
NS_DET=$P-kdet
NS_GW=$P-kgw
NS_PEER=$P-kpeer
IF_GW=$P-kg0
IF_PEER=$P-kp0
MAC_GW=02:e1:0b:00:01:01
MAC_PEER=02:e1:0b:00:01:02
GW4=192.0.2.1 PEER4=192.0.2.2
GW6=2001:db8:e11::1 PEER6=2001:db8:e11::2
IN4_PEER=10.81.0.2 IN4_FAR=10.82.0.9
IN6_PEER=fd00:81::2 IN6_FAR=fd00:82::9
SPI_OUT=0x0e110001   # kernel -> espgw
SPI_IN=0x0e110002    # espgw -> kernel
REFLECTOR=${ESPGW_BUILD_DIR:-build}/test/interop/esp_reflector

refl_pid=""
workdir=$(mktemp -d /tmp/eiop-kxfrm.XXXXXX)

cleanup() {
  if [ -n "$refl_pid" ]; then kill "$refl_pid" 2>/dev/null; wait "$refl_pid" 2>/dev/null; fi
  for ns in $NS_DET $NS_GW $NS_PEER; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---- 1. Does this kernel have ESP? ----
ip netns del $NS_DET 2>/dev/null
if ! ip netns add $NS_DET 2>"$workdir/err"; then
  echo "TESTCASE FAIL kernel-xfrm/setup: ip netns add: $(tr '\n' ' ' <"$workdir/err")"
  exit 1
fi
if ! ip -n $NS_DET xfrm state add src $GW4 dst $PEER4 proto esp spi 0x100 mode tunnel \
      aead 'rfc4106(gcm(aes))' "0x$(hex 20)" 128 2>"$workdir/err"; then
  echo "TESTCASE SKIP kernel-xfrm: kernel has no ESP ($(tr '\n' ' ' <"$workdir/err" | sed 's/ *$//'))"
  exit 0
fi
ip netns del $NS_DET

# ---- 2. The namespaces ----
fail_setup() { echo "TESTCASE FAIL kernel-xfrm/setup: $*"; exit 1; }
[ -x "$REFLECTOR" ] || fail_setup "no esp_reflector at $REFLECTOR (build it first)"
{
  ip netns add $NS_GW && ip netns add $NS_PEER &&
  ip netns exec $NS_GW sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 &&
  ip link add $IF_GW netns $NS_GW address $MAC_GW type veth peer name $IF_PEER netns $NS_PEER address $MAC_PEER &&
  ip -n $NS_GW link set $IF_GW up &&
  ip -n $NS_PEER link set lo up &&
  ip -n $NS_PEER link set $IF_PEER up &&
  ip -n $NS_PEER addr add $PEER4/24 dev $IF_PEER &&
  ip -n $NS_PEER addr add $PEER6/64 dev $IF_PEER nodad &&
  ip -n $NS_PEER addr add $IN4_PEER/32 dev lo &&
  ip -n $NS_PEER addr add $IN6_PEER/128 dev lo &&
  ip -n $NS_PEER neigh add $GW4 lladdr $MAC_GW dev $IF_PEER nud permanent &&
  ip -n $NS_PEER neigh add $GW6 lladdr $MAC_GW dev $IF_PEER nud permanent &&
  ip -n $NS_PEER route add ${IN4_FAR%.*}.0/24 dev $IF_PEER src $IN4_PEER &&
  ip -n $NS_PEER route add ${IN6_FAR%::*}::/64 dev $IF_PEER src $IN6_PEER
} 2>"$workdir/err" || fail_setup "namespaces: $(tr '\n' ' ' <"$workdir/err")"

failed=0
pass() { echo "TESTCASE PASS $1"; }
fail() { echo "TESTCASE FAIL $1: $2"; failed=$((failed + 1)); }

# run_case NAME FAMILY(4|6) MODE(tunnel|transport) UDP(0|1) ESN(0|1)
#          ESPGW_CIPHER ESPGW_INTEG KEYMAT_BYTES AUTHKEY_BYTES KERNEL_ALG...
# KERNEL_ALG uses KEY_ENC / KEY_AUTH placeholders for the key material.
run_case() {
  local name=$1 fam=$2 mode=$3 udp=$4 esn=$5 cipher=$6 integ=$7 klen=$8 alen=$9
  shift 9
  local k_out k_in a_out a_in
  k_out=$(hex "$klen"); k_in=$(hex "$klen")
  a_out=$(hex "$alen"); a_in=$(hex "$alen")
  local gw peer src dst
  if [ "$fam" = 4 ]; then gw=$GW4 peer=$PEER4; else gw=$GW6 peer=$PEER6; fi
  if [ "$mode" = tunnel ]; then
    if [ "$fam" = 4 ]; then src=$IN4_PEER dst=$IN4_FAR; else src=$IN6_PEER dst=$IN6_FAR; fi
  else
    src=$peer dst=$gw
  fi

  # Kernel side: one SA each way, policies for the ICMP flow.
  local alg_out=() alg_in=() a
  for a in "$@"; do
    a=${a//KEY_ENC/0x$k_out}; a=${a//KEY_AUTH/0x$a_out}
    alg_out+=("$a")
  done
  for a in "$@"; do
    a=${a//KEY_ENC/0x$k_in}; a=${a//KEY_AUTH/0x$a_in}
    alg_in+=("$a")
  done
  local extra=()
  [ "$udp" = 1 ] && extra+=(encap espinudp 4500 4500 0.0.0.0)
  local extra_out=("${extra[@]}") extra_in=("${extra[@]}")
  if [ "$esn" = 1 ]; then
    # Start just below 2^32 so the exchange crosses into seq_hi = 1.
    extra_out+=(flag esn replay-window 128 replay-oseq 0xfffffffd)
    extra_in+=(flag esn replay-window 128 replay-seq 0xfffffff0)
  else
    extra_in+=(replay-window 64)
  fi
  local pol_sel=(src "$src" dst "$dst")
  local pol_sel_in=(src "$dst" dst "$src")
  [ "$mode" = transport ] && { pol_sel+=(proto $([ "$fam" = 4 ] && echo 1 || echo 58)); \
                               pol_sel_in+=(proto $([ "$fam" = 4 ] && echo 1 || echo 58)); }
  if ! {
    ip -n $NS_PEER xfrm state flush && ip -n $NS_PEER xfrm policy flush &&
    ip -n $NS_PEER xfrm state add src "$peer" dst "$gw" proto esp spi $SPI_OUT mode "$mode" \
      "${alg_out[@]}" "${extra_out[@]}" &&
    ip -n $NS_PEER xfrm state add src "$gw" dst "$peer" proto esp spi $SPI_IN mode "$mode" \
      "${alg_in[@]}" "${extra_in[@]}" &&
    ip -n $NS_PEER xfrm policy add "${pol_sel[@]}" dir out \
      tmpl src "$peer" dst "$gw" proto esp mode "$mode" &&
    ip -n $NS_PEER xfrm policy add "${pol_sel_in[@]}" dir in \
      tmpl src "$gw" dst "$peer" proto esp mode "$mode"
  } 2>"$workdir/err"; then
    fail "$name" "ip xfrm: $(tr '\n' ' ' <"$workdir/err")"
    return
  fi

  # espgw side: the mirror image (its inbound = the kernel's outbound).
  local spec_common="cipher=$cipher,mode=$mode,udp=$udp,esn=$esn"
  local spec_in="spi=$SPI_OUT,$spec_common,keymat=$k_out"
  local spec_out="spi=$SPI_IN,$spec_common,keymat=$k_in"
  if [ "$integ" != - ]; then
    spec_in+=",integ=$integ,authkey=$a_out"
    spec_out+=",integ=$integ,authkey=$a_in"
  fi
  [ "$esn" = 1 ] && spec_in+=",seq=0xfffffff0" && spec_out+=",seq=0xfffffffd"
  [ "$mode" = tunnel ] && spec_out+=",src=$gw,dst=$peer"
  ip netns exec $NS_GW "$REFLECTOR" --iface $IF_GW --mode echo --in "$spec_in" --out "$spec_out" \
    >"$workdir/refl.log" 2>&1 &
  refl_pid=$!
  local t
  for t in $(seq 50); do grep -q '^ready' "$workdir/refl.log" && break; sleep 0.1; done
  if ! grep -q '^ready' "$workdir/refl.log"; then
    fail "$name" "reflector did not start: $(tail -3 "$workdir/refl.log" | tr '\n' ' ')"
    kill "$refl_pid" 2>/dev/null; wait "$refl_pid" 2>/dev/null; refl_pid=""
    return
  fi

  local out rc
  out=$(ip netns exec $NS_PEER ping -$fam -c 4 -i 0.2 -W 1 -I "$src" "$dst" 2>&1); rc=$?
  kill -TERM "$refl_pid" 2>/dev/null; wait "$refl_pid" 2>/dev/null; refl_pid=""
  local counters
  counters=$(grep '^counters' "$workdir/refl.log")
  if [ $rc -ne 0 ] || ! grep -q ' 4 received' <<<"$out"; then
    fail "$name" "ping: $(grep -E 'transmitted|100%' <<<"$out" | tr '\n' ' ') reflector: ${counters:-$(tail -2 "$workdir/refl.log" | tr '\n' ' ')}"
    return
  fi
  if ! grep -q ' decrypted=4 .* tx=4 ' <<<"$counters"; then
    fail "$name" "reflector counters: $counters"
    return
  fi
  pass "$name"
}

# name                          fam mode      udp esn cipher            integ  klen alen kernel algorithm
run_case kernel-xfrm/gcm128/tunnel-4in4      4 tunnel    0 0 aes128gcm16      -      20 0  aead 'rfc4106(gcm(aes))' KEY_ENC 128
run_case kernel-xfrm/gcm256/tunnel-6in6      6 tunnel    0 0 aes256gcm16      -      36 0  aead 'rfc4106(gcm(aes))' KEY_ENC 128
run_case kernel-xfrm/chacha20poly1305/tunnel-4in4 4 tunnel 0 0 chacha20poly1305 -    36 0  aead 'rfc7539esp(chacha20,poly1305)' KEY_ENC 128
run_case kernel-xfrm/gmac128/tunnel-4in4     4 tunnel    0 0 aes128gmac       -      20 0  aead 'rfc4543(gcm(aes))' KEY_ENC 128
run_case kernel-xfrm/cbc128-sha256/tunnel-4in4 4 tunnel  0 0 aes128           sha256 16 32 enc 'cbc(aes)' KEY_ENC auth-trunc 'hmac(sha256)' KEY_AUTH 128
run_case kernel-xfrm/cbc256-sha1/transport-4 4 transport 0 0 aes256           sha1   32 20 enc 'cbc(aes)' KEY_ENC auth-trunc 'hmac(sha1)' KEY_AUTH 96
run_case kernel-xfrm/gcm128/transport-6      6 transport 0 0 aes128gcm16      -      20 0  aead 'rfc4106(gcm(aes))' KEY_ENC 128
run_case kernel-xfrm/gcm128/tunnel-4in4/udp  4 tunnel    1 0 aes128gcm16      -      20 0  aead 'rfc4106(gcm(aes))' KEY_ENC 128
run_case kernel-xfrm/cbc128-sha512/tunnel-4in4/esn 4 tunnel 0 1 aes128        sha512 16 64 enc 'cbc(aes)' KEY_ENC auth-trunc 'hmac(sha512)' KEY_AUTH 256
run_case kernel-xfrm/gcm128/tunnel-4in4/udp/esn 4 tunnel 1 1 aes128gcm16      -      20 0  aead 'rfc4106(gcm(aes))' KEY_ENC 128

[ $failed -eq 0 ]

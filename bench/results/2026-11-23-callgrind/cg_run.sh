#!/bin/bash
# usage: cg_run.sh espgw|secgw BUILD_DIR out|in 64|1420 WINDOW_S TAG   (after cg_setup.py)
# Runs espgw-dp (BUILD_DIR/dataplane/dp/espgw-dp) or ipsec-secgw under callgrind on the
# bench's infinite pcap replay, zeroes the counts once it forwards (+3 s), dumps after
# WINDOW_S, stops it. Per-packet figures: cg_analyze.py $WORK/cg/<peer>-TAG-<dir>-<size>.
W=$1; B=$2; d=$3; z=$4; S=$5; T=$6
O=${WORK:-/tmp/espgw-callgrind}/cg/$W-$T-$d-$z
rm -rf $O; mkdir -p $O
PCAP=${WORK:-/tmp/espgw-callgrind}/pcap/f2-$d-aes128gcm-$z-1.pcap
VG="valgrind --tool=callgrind ${CGX} --separate-threads=yes --callgrind-out-file=$O/cg.out"
if [ $W = espgw ]; then
  $VG $B/dataplane/dp/espgw-dp --config ${WORK:-/tmp/espgw-callgrind}/espgw-$d-$z.toml --file-prefix perfcg-$T-$d-$z --stats-socket $O/sock > $O/log 2>&1 &
  P=$!; READY="ready:"
else
  if [ $d = out ]; then V="--vdev net_pcap0,rx_pcap=$PCAP,infinite_rx=1 --vdev net_null0,no-rx=1"
  else V="--vdev net_null1,no-rx=1 --vdev net_pcap1,rx_pcap=$PCAP,infinite_rx=1"; fi
  $VG ${SECGW:-${WORK:-/tmp/espgw-callgrind}/secgw/src/build/ipsec-secgw} -l 1 -n 1 --no-pci --no-huge -m 1024 --file-prefix=perfcg-secgw-$d-$z --log-level=5 \
  $V --vdev crypto_aesni_mb -- -p 0x3 -u 0x2 -l -t 1 --config "(0,0,1),(1,0,1)" -f ${WORK:-/tmp/espgw-callgrind}/secgw.cfg > $O/log 2>&1 &
  P=$!; READY="Total packets sent"
fi
for i in $(seq 1 600); do sleep 0.5; grep -aq "$READY" $O/log && break; kill -0 $P 2>/dev/null || break; done
sleep 3
callgrind_control -z $P > /dev/null
sleep $S
callgrind_control -d $P > /dev/null
sleep 1
kill -INT $P; wait $P
echo rc=$?

#!/usr/bin/python3
"""cg_lines.py DUMP FUNCTION BINARY PACKETS: the self cost of FUNCTION (a substring of
its name) per packet and per source line, from a callgrind dump taken with
--dump-instr=yes (cg_run.sh with that flag added to VG). Lines come from BINARY's
debug info (objdump -l). PACKETS: the count to divide by (e.g. calls of
esp::outbound_finish in the same dump). Used for the 2026-11-23 decrypt-path work."""
import sys, re, subprocess, collections
f, fname, binary = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(f).read().split('\n')
counts = collections.Counter(); names = {}
infn = False; addr = 0; line = 0; skip_next = False
for l in lines:
    if l.startswith('cfn='):
        m = re.match(r'cfn=\((\d+)\) (.*)', l)
        if m: names[m.group(1)] = m.group(2)
    if l.startswith('fn='):
        m = re.match(r'fn=\((\d+)\)(?: (.*))?', l)
        if m and m.group(2): names[m.group(1)] = m.group(2)
        infn = fname in names.get(m.group(1), '') if m else fname in l; continue
    if not infn: continue
    if l.startswith('cfn='):
        m = re.match(r'cfn=\((\d+)\) (.*)', l)
        if m: names[m.group(1)] = m.group(2)
    if l.startswith(('cfn=','cfi=','cob=','calls=')):
        if l.startswith('calls='): skip_next = True
        continue
    if not l or not (l[0] in '+-0123456789*'): continue
    parts = l.split()
    def pos(tok, cur):
        if tok.startswith('0x'): return int(tok, 16)
        if tok.startswith('+'): return cur + int(tok[1:], 16 if tok[1:2]=='0x' else 10) if False else cur + int(tok[1:],0)
        if tok.startswith('-'): return cur - int(tok[1:],0)
        if tok == '*': return cur
        return int(tok, 0)
    addr = pos(parts[0], addr)
    if len(parts) >= 3:
        line = pos(parts[1], line)
        c = int(parts[2])
    else:
        c = int(parts[1]) if len(parts) > 1 else 0
    if skip_next:
        skip_next = False; continue   # inclusive cost of the call
    counts[addr] += c
pkts = int(sys.argv[4])
tot = sum(counts.values())
print("total", tot / pkts)
# disassemble
dis = subprocess.run(['objdump','-d','--no-show-raw-insn','-l',binary], capture_output=True, text=True).stdout
insn = {}
src = None
for l in dis.split('\n'):
    m = re.match(r'^(/.*):(\d+)', l)
    if m: src = m.group(1).split('/')[-1] + ':' + m.group(2); continue
    m = re.match(r'^\s+([0-9a-f]+):\s+(.*)', l)
    if m: insn[int(m.group(1),16)] = (m.group(2), src)
bysrc = collections.Counter()
for a, c in counts.items():
    if a in insn: bysrc[insn[a][1]] += c
for s, c in sorted(bysrc.items(), key=lambda x: -x[1])[:40]:
    print(f"{c/pkts:7.1f} {s}")

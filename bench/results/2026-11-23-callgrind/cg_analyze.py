#!/usr/bin/python3
"""cg_analyze.py DIR [top]: per-packet instruction counts of the zero..dump window
(cg.out.1-*): the thread that ran the per-packet function, Ir / packets, top self costs."""
import glob, os, re, sys, collections
d = sys.argv[1]; top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
PER_PKT = ["espgw::esp::outbound_prepare", "espgw::esp::inbound_prepare", "espgw::dp::output_ip", "submit_job_nocheck_avx2_t1"]
def parse(path):
    names = {}
    selfc = collections.Counter(); calls = collections.Counter()
    fn = cfn = None; ob = None; pend = False; total = 0
    def nm(s, tab):
        m = re.match(r"\((\d+)\)(?: (.*))?", s)
        if not m: return s
        if m.group(2) is not None: tab[m.group(1)] = m.group(2)
        return tab.get(m.group(1), "?")
    obs = {}
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("ob="): ob = nm(line[3:], obs); continue
        if line.startswith("fn="): fn = (nm(line[3:], names), os.path.basename(ob or "")); continue
        if line.startswith("cfn="): cfn = nm(line[4:], names); continue
        if line.startswith("calls="): calls[cfn] += int(line[6:].split()[0]); pend = True; continue
        if line and (line[0].isdigit() or line[0] in "+-*"):
            p = line.split()
            if len(p) >= 2:
                if pend: pend = False
                else: selfc[fn] += int(p[1]); total += int(p[1])
    return total, selfc, calls
best = None
for f in sorted(glob.glob(os.path.join(d, "cg.out.1-*"))):
    t, s, c = parse(f)
    pk = max((v for k, v in c.items() for n in PER_PKT if k.startswith(n)), default=0)
    if pk and (best is None or pk > best[3]): best = (f, t, s, pk)
f, t, s, pk = best
print(f"{d}: thread file {os.path.basename(f)}  packets {pk}  Ir {t}  Ir/packet {t/pk:.0f}")
for (fn, ob), v in s.most_common(top):
    print(f"  {v/pk:8.1f}  {ob[:22]:22}  {fn[:130]}")

"""results.md (Markdown tables), results.json and plot.png (gnuplot) for one run."""
import json
import os
import subprocess

PEERS = ["espgw", "secgw", "ceiling", "transform", "strongswan", "kernel"]
TITLES = {"espgw": "espgw-dp", "secgw": "ipsec-secgw", "ceiling": "intel-ipsec-mb ceiling",
          "transform": "espgw ESP transform (esp_micro)", "strongswan": "strongSwan libipsec",
          "kernel": "Linux kernel ESP"}


def _fmt_mpps(c):
    if c is None:
        return "–"
    if c.get("status") != "ok":
        return c.get("status", "–")
    return f"{c['mpps']:.3f} [{c['min_mpps']:.3f}–{c['max_mpps']:.3f}]"


def _ratio(a, b):
    if not a or not b or a.get("status") != "ok" or b.get("status") != "ok" or not b["mpps"]:
        return "–"
    return f"{a['mpps'] / b['mpps']:.2f}×"


def _paired(row):
    """Median [min–max] of the per-trial espgw-dp / ipsec-secgw ratios (trials alternate)."""
    p = row.get("paired_ratio")
    if not p:
        return "–"
    return f"{p['median']:.2f}× [{p['min']:.2f}–{p['max']:.2f}]"


def _wcols(data):
    """espgw-dp worker-count columns present in the rows: [(key, workers)]."""
    ks = {}
    for r in data["rows"]:
        for k, c in r["cols"].items():
            if k.startswith("espgw"):
                ks[k] = c.get("workers", 1 if k == "espgw" else int(k.split("_")[1][:-1]))
    return sorted(ks.items(), key=lambda kv: kv[1])


def macro_table(data):
    """The whole worker pipeline over SA counts and worker counts (issue 3's macro bench)."""
    wc = _wcols(data)
    if not (len(wc) > 1 or len({r["sas"] for r in data["rows"]}) > 1):
        return []
    base = {}
    for r in data["rows"]:
        e = r["cols"].get("espgw")
        if r["sas"] == min(x["sas"] for x in data["rows"]) and e and e.get("status") == "ok":
            base[(r["dir"], r["suite"], r["size"])] = e["mpps"]
    head = ["dir", "suite", "size", "SAs"]
    for k, w in wc:
        head += [f"espgw {w}w Mpps", f"{w}w Gbit/s/core"] + ([f"{w}w/1w"] if w > 1 else [])
    head += ["ipsec-secgw Mpps", "espgw 1w/secgw", "1w vs fewest SAs (paired)", "load 1-min (start→end)", "start s"]
    md = ["", "## Whole pipeline: SAs × workers (Mpps median [min–max]; Gbit/s of inner IP bytes per core)", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in data["rows"]:
        c = r["cols"]
        cells = [r["dir"], r["suite"], r["size"], str(r["sas"])]
        one = c.get("espgw")
        for k, w in wc:
            e = c.get(k)
            cells.append(_fmt_mpps(e))
            cells.append(f"{e['gbps'] / w:.2f}" if e and e.get("status") == "ok" else "–")
            if w > 1:
                cells.append(_ratio(e, one))
        cells.append(_fmt_mpps(c.get("secgw")))
        cells.append(_ratio(one, c.get("secgw")))
        b = base.get((r["dir"], r["suite"], r["size"]))
        pv = r.get("paired_vs_fewest")
        if pv:  # per-trial ratios: the SA counts' trials interleave
            cells.append(f"{pv['median']:.2f}× [{pv['min']:.2f}–{pv['max']:.2f}]")
        else:
            cells.append(f"{one['mpps'] / b:.2f}×" if b and one and one.get("status") == "ok" else "–")
        la = r.get("loadavg")
        cells.append(f"{la[0]:.1f}→{la[-1]:.1f}" if la else "–")
        st = r.get("start_s", {})
        cells.append(" / ".join(f"{v:.0f}" for v in st.values()) if st else "–")
        md.append("| " + " | ".join(cells) + " |")
    return md


def write(outdir, data):
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(data, f, indent=1)
    env = data["env"]
    md = [f"# espgw bench — {env['date']} on {env['host']}", "",
          f"- CPU: {env['cpu_model']} ({env['cores_usable']} usable cores of {env['cores_online']}; "
          f"crypto flags: {' '.join(env['crypto_flags'])}); load average at start {' '.join(env['loadavg'])}",
          f"- DPDK {env['dpdk']}, intel-ipsec-mb {env['intel_ipsec_mb']}, {env['openssl']}, "
          f"strongSwan {env['strongswan']}, kernel {env['kernel']}",
          f"- commit {env['git_commit']}",
          f"- scenario: {data['scenario']}",
          "- method: every peer on the same vdevs (net_pcap infinite replay in, net_null out) and the same "
          "worker lcore, in one run; Mpps = median of trials [min–max]; paired = median [min–max] of the "
          "per-trial espgw-dp/ipsec-secgw ratios (the peers' trials alternate; so do the SA counts of one "
          "direction, suite and size, and \"vs fewest SAs\" is paired the same way); Gbit/s of inner (plaintext) IP bytes. "
          "ceiling/transform: esp_micro on the same buffers, one core, no I/O.",
          ]
    for n in data.get("notes", []):
        md.append(f"- {n}")
    md += ["", "## Packets per second, one worker core (Mpps, median [min–max])", "",
           "| dir | suite | size | SAs | espgw-dp | ipsec-secgw | espgw/secgw | paired espgw/secgw | espgw Gbit/s | "
           "ESP transform | ceiling | transform/ceiling | espgw/ceiling |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        c = r["cols"]
        e = c.get("espgw")
        gb = f"{e['gbps']:.2f}" if e and e.get("status") == "ok" else "–"
        md.append(f"| {r['dir']} | {r['suite']} | {r['size']} | {r['sas']} | {_fmt_mpps(e)} | "
                  f"{_fmt_mpps(c.get('secgw'))} | {_ratio(e, c.get('secgw'))} | {_paired(r)} | {gb} | "
                  f"{_fmt_mpps(c.get('transform'))} | {_fmt_mpps(c.get('ceiling'))} | "
                  f"{_ratio(c.get('transform'), c.get('ceiling'))} | {_ratio(e, c.get('ceiling'))} |")
    md += macro_table(data)
    md += ["", "## Other peers", ""]
    for k in ("strongswan", "kernel"):
        v = data["peers"].get(k, {})
        md.append(f"- {TITLES[k]}: {v.get('summary', v.get('status', 'not run'))}")
    si = data["peers"].get("sa_install")
    if si:
        md += ["", "## SA install rate (shared-table writer)", ""]
        if si.get("status"):
            md.append(f"- {si['status']}")
        else:
            md += [f"{si['sas']:,} live inbound AES-GCM-128 SAs; one reader thread doing a worker's SPI lookups "
                   f"(bulk 32 + RCU quiescent), {si['reader_lookups_per_s_idle'] / 1e6:.2f} M lookups/s alone.", "",
                   "| operation | SAs/s | reader dip |", "|---|---|---|",
                   f"| install, flat out, no reader | {si['install_alone_per_s']:,.0f} | – |",
                   f"| install, paced at {si['paced_rate']:,.0f}/s | {si['install_per_s']:,.0f} | "
                   f"{si['reader_dip_install_pct']:.1f} % |",
                   f"| replace (rekey), paced | {si['replace_per_s']:,.0f} | {si['reader_dip_replace_pct']:.1f} % |",
                   f"| delete, paced | {si['delete_per_s']:,.0f} | {si['reader_dip_delete_pct']:.1f} % |", "",
                   f"{si['bytes_per_inbound_sa']} B per inbound SA (slot + owner state). Writer on CPU "
                   f"{si.get('writer_cpu', '?')}, reader on CPU {si.get('reader_cpu', '?')} (as deployed: IKE and "
                   "workers on their own cores; one CPU shared would add the writer's CPU time to the dip). "
                   "Dip: median over 10,000-operation chunks of the reader's rate during the chunk against "
                   "the idle windows before and after it."]
    ir = data["peers"].get("ike_rate")
    if ir:
        md += ["", "## IKE handshakes per second (responder)", ""]
        if ir.get("status"):
            md.append(f"- {ir['status']}")
        else:
            def cell(v):
                return f"{v['per_s']:,.0f} /s (trials {', '.join(f'{x:,.0f}' for x in v['trials'])})" \
                    if v.get("status") == "ok" else v.get("status", "not run")
            e, c = ir.get("espgw", {}), ir.get("charon", {})
            ike_ratio = (f"{e['per_s'] / c['per_s']:.2f}×" if e.get("status") == "ok" and c.get("status") == "ok"
                         and c["per_s"] else "–")
            md += [f"{ir['n']} site-to-site IKE SAs (IKE_SA_INIT + IKE_AUTH with PSK, ECP-256, AES-GCM-256, first "
                   "CHILD_SA) started at once by an espgw-ike initiator in another namespace; rate = N / time to the "
                   "last one established.", "", "| responder | handshakes/s | vs charon |", "|---|---|---|",
                   f"| espgw-ike (one thread) | {cell(ir['espgw'])} | {ike_ratio} |",
                   f"| strongSwan charon (16 threads) | {cell(ir['charon'])} | 1.00× |", "",
                   "charon's CHILD_SA install fails in these namespaces (kernel-libipsec cannot install its "
                   "policies there), so its figure leaves that step out; espgw-ike's includes handing the "
                   "CHILD_SA to its sink."]
    if data.get("workers"):
        md += ["", "## Worker scaling (espgw-dp, Mpps)", "", "| workers | Mpps | vs 1 worker |", "|---|---|---|"]
        base = None
        for w in data["workers"]:
            if w.get("status") == "ok":
                base = base or w["mpps"]
                md.append(f"| {w['workers']} | {w['mpps']:.3f} | {w['mpps'] / base:.2f}× |")
            else:
                md.append(f"| {w['workers']} | {w.get('status')} | – |")
    if data.get("errors"):
        md += ["", "## Errors", ""] + [f"- {e}" for e in data["errors"]]
    md += ["", "![plot](plot.png)", ""]
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))
    return plot(outdir, data)


def plot(outdir, data):
    """Clustered bars of Mpps per scenario and peer. Returns None or an error string."""
    wk = [k for k, w in _wcols(data) if w > 1]
    cols = ["espgw"] + wk + ["secgw", "transform", "ceiling"]
    dat = os.path.join(outdir, "plot.dat")
    with open(dat, "w") as f:
        f.write("scenario " + " ".join(cols) + "\n")
        for r in data["rows"]:
            vals = []
            for k in cols:
                c = r["cols"].get(k)
                vals.append(f"{c['mpps']:.4f}" if c and c.get("status") == "ok" else "NaN")
            f.write(f"\"{r['dir']} {r['suite']} {r['size']} {r['sas']}SA\" " + " ".join(vals) + "\n")
    n = max(1, len(data["rows"]))
    names = {"espgw": "espgw-dp 1 worker", "secgw": "ipsec-secgw", "transform": "ESP transform (no I/O)",
             "ceiling": "intel-ipsec-mb ceiling"}
    plots = ", ".join(f"'{dat if i == 0 else ''}' using {i + 2}" + (":xtic(1)" if i == 0 else "") +
                      f" title '{names[k] if k in names else 'espgw-dp ' + k.split('_')[1][:-1] + ' workers (total)'}'"
                      for i, k in enumerate(cols))
    gp = f"""set terminal pngcairo size {max(900, 90 * n)},600 noenhanced
set output '{os.path.join(outdir, 'plot.png')}'
set title 'espgw bench {data['env']['date']} {data['env']['host']} (Mpps)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:*]
set ylabel 'Mpps'
set xtics rotate by -35 scale 0
set key top left
set datafile missing 'NaN'
plot {plots}
"""
    r = subprocess.run(["gnuplot"], input=gp, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(os.path.join(outdir, "plot.png")):
        # pngcairo may be missing in gnuplot-nox: fall back to the png terminal
        gp = gp.replace("pngcairo", "png")
        r = subprocess.run(["gnuplot"], input=gp, capture_output=True, text=True)
    os.remove(dat)
    if r.returncode != 0:
        return "gnuplot: " + r.stderr[-300:]
    return None

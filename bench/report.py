#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the raw JSON-lines output of shmring-bench into the benchmark report.

Usage: report.py RAW.jsonl --date YYYY-MM-DD --cmd "make bench" [--root DIR]

Writes, under the repository root (default: the parent of bench/):
  bench/results/<date>.json   aggregated results, the meta line, the command
                              and every raw run
  bench/results/headline.md   the headline tables; also put into README.md
                              between the bench-headline markers, if present
  docs/bench.md               the full report
  docs/bench/*.svg, docs/bench/throughput-64.png   plots, drawn by gnuplot

The output depends only on the input and the arguments: regenerating from
the same raw file gives byte-identical files.
"""

import argparse
import datetime
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMPL_NOTES = {      # known impls, in display order
    "shmring-write": "shmring, one shmring_write(3) per record, lossless ring",
    "shmring-write2": "shmring, write(2) on the ring's fd, one record per "
                      "call, lossless ring",
    "shmring-batch": "shmring, shmring_write_batch(3), lossless ring",
    "shmring-ow-write": "shmring, shmring_write(3), overwrite ring (writers "
                        "never wait)",
    "shmring-ow-batch": "shmring, shmring_write_batch(3), overwrite ring "
                        "(writers never wait)",
    "shmring-zc": "shmring, zero-copy ring (SHMRING_ATTR_ZEROCOPY): one "
                  "shmring_zc_write(3) per record (reserve in place, copy, "
                  "commit), lossless ring; a system call per chunk, and per "
                  "commit only while a reader sleeps",
    "shmring-zc-batch": "shmring, zero-copy ring: a batch of records "
                        "reserved in place by one shmring_zc_reserve_n(3) "
                        "and copied, then one "
                        "shmring_zc_commit(3) (early where a chunk ends), "
                        "lossless ring; readers woken per chunk "
                        "(shmring_set_zc_wake(3)) in throughput runs",
    "pipe": "a pipe per writer–reader pair, one write(2) per record and reader",
    "pipe-batch": "a pipe per writer–reader pair, a batch of records per "
                  "write(2) and reader",
    "seqpacket": "an AF_UNIX SOCK_SEQPACKET pair per writer–reader pair, one "
                 "send(2) per record and reader",
    "seqpacket-batch": "an AF_UNIX SOCK_SEQPACKET pair per writer–reader "
                       "pair, sendmmsg(2)/recvmmsg(2) batches",
    "mq": "POSIX message queue, one per reader, shared by the writers",
    "uring": "one ring in a memfd shared by every writer and reader (a tail "
             "per reader, writers serialized by a futex lock, eventfd "
             "wake-ups): head published and sleeping readers looked for "
             "after every record; readers release every record",
    "uring-batch": "uring's shared memfd ring, head published once per "
                   "batch and each sleeping reader signalled at most once "
                   "per batch; readers release once per drained run",
    "memcpy": "payload copy bandwidth: the physical limit, no system calls",
}
KNOWN_IMPLS = tuple(IMPL_NOTES)
# Like with like: ratios are only taken within a group (the "group" field
# of shmring-bench's lines). The peers of each group, in display order.
GROUPS = {
    "record": "writers send, and the transport publishes, each record on its own",
    "batch": "writers send, and the transport publishes, a batch of records "
             "at a time, the same batch size (-b) on every path",
    "bound": "no transport: a bound, not a peer, with no ratio",
}
GROUP_TITLES = {"record": "One record per call", "batch": "Batches",
                "bound": "Bound"}
HEADLINE_PEERS = {"record": ("pipe", "seqpacket", "mq", "uring"),
                  "batch": ("pipe-batch", "seqpacket-batch", "uring-batch")}
HEADLINE_SIZES = (64, 4096)     # also the sizes of the CPU tables and plots
SCENARIOS = ((1, 1), (4, 1), (1, 4), (4, 4), (8, 1), (8, 4))
TP_KEY = ("impl", "writers", "readers", "size")
LAT_KEY = ("impl", "size", "writers", "readers")
TP_METRICS = ("records_per_s", "mb_per_s", "cpu_user_s_per_mrec",
              "cpu_sys_s_per_mrec", "cpu_s_per_mrec", "syscalls_per_rec",
              "records_lost", "records_written", "records_delivered",
              "write_records_per_s", "w_syscalls_per_rec", "r_syscalls_per_rec")
LAT_METRICS = ("p50_us", "p99_us", "p999_us")
IDLE_METRICS = ("cpu_pct", "syscalls", "seconds")
REQUIRED = {        # kind -> fields a line of that kind must have
    "meta": (),
    "throughput": TP_KEY + ("records_per_s",),
    "latency": ("impl", "size", "p50_us", "p99_us"),
    "idle": ("impl", "cpu_pct"),
    "error": ("message",),
}
TEXT_FIELDS = ("impl", "message")
META_SHOWN = ("kind", "tool", "version", "argv", "kernel", "cpus", "ring_size",
              "ring_records", "reps", "batch", "emulated", "limits")
BEGIN, END = "<!-- bench-headline-begin -->", "<!-- bench-headline-end -->"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
MISSING = "—"
UPPER_BOUNDS = ("uring and uring-batch are what a careful user builds by hand, "
                "without shmring's guarantees (a killed writer leaves the "
                "ring locked or torn; nothing outlives the processes); "
                "memcpy, a bare copy, is a bound and has no ratio.")


# --- input and aggregation ---------------------------------------------------

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) \
        and math.isfinite(v)


def valid(obj):
    """True for a meta/run/error object with the fields its kind needs."""
    if not isinstance(obj, dict) or obj.get("kind") not in REQUIRED:
        return False
    return all(isinstance(obj.get(f), str) if f in TEXT_FIELDS
               else is_num(obj.get(f)) for f in REQUIRED[obj["kind"]])


def no_constants(name):
    raise ValueError(f"{name} is not a number")


def load_raw(path):
    """(valid objects in input order, number of other non-blank lines)."""
    objs, ignored = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in filter(str.strip, f):
            try:
                obj = json.loads(line, parse_constant=no_constants)
            except ValueError:
                obj = None
            if valid(obj):
                objs.append(obj)
            else:
                ignored += 1
    return objs, ignored


def summary(values):
    v = sorted(values)
    mid = len(v) // 2
    med = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
    return {"median": med, "min": v[0], "max": v[-1], "n": len(v)}


def aggregate(runs, key_fields, metrics):
    """{key: {metric: summary}} over runs grouped by key_fields."""
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run.get(k, 1) for k in key_fields), []).append(run)
    return {key: {m: summary(vals) for m in metrics
                  if (vals := [r[m] for r in group if is_num(r.get(m))])}
            for key, group in groups.items()}


def with_cpu_total(run):
    u, s = run.get("cpu_user_s_per_mrec"), run.get("cpu_sys_s_per_mrec")
    return dict(run, cpu_s_per_mrec=u + s) if is_num(u) and is_num(s) else run


def scen_rank(scen):
    return (SCENARIOS.index(scen), ()) if scen in SCENARIOS else (99, scen)


def sig6(x):
    return x if isinstance(x, int) else float(f"{x:.6g}")


class Results:
    """The aggregated results of one raw file."""

    def __init__(self, objs):
        kinds = {k: [o for o in objs if o["kind"] == k] for k in REQUIRED}
        self.raw, self.errors = objs, kinds["error"]
        self.meta = kinds["meta"][0] if kinds["meta"] else {}
        self.tp = aggregate(map(with_cpu_total, kinds["throughput"]), TP_KEY,
                            TP_METRICS)
        self.lat = aggregate(kinds["latency"], LAT_KEY, LAT_METRICS)
        self.idle = aggregate(kinds["idle"], ("impl",), IDLE_METRICS)
        self.info = {}
        for o in objs:
            if o["kind"] != "error":
                self.info.setdefault(o.get("impl"), {
                    k: o.get(k) for k in ("transport", "path", "policy", "group")})
        self.info.pop(None, None)
        for impl, info in self.info.items():
            if info.get("group") not in GROUPS:     # raw files before groups
                info["group"] = "bound" if info.get("policy") == "none" \
                    or impl == "memcpy" else \
                    "batch" if info.get("path") in ("batch", "zc-batch") \
                    else "record"
        self.impls = sorted(
            [i for i in KNOWN_IMPLS if i in self.info] + sorted(
                i for i in self.info if i not in KNOWN_IMPLS),
            key=lambda i: list(GROUPS).index(self.group(i)))
        self.sizes = sorted({k[3] for k in self.tp})
        self.scenarios = sorted({k[1:3] for k in self.tp}, key=scen_rank)
        ns = [st["records_per_s"]["n"] for st in self.tp.values()]
        self.reps = self.meta.get("reps") if is_num(self.meta.get("reps")) \
            else max(sorted(set(ns)), key=ns.count, default=None)

    def syscalls(self, stats, metric):
        """The syscall cell: the numbers only if the bench counted them."""
        if self.meta.get("syscalls_counted", True) is False:
            return "not counted"
        return fmt_stat(stats.get(metric), fmt_num, self.reps)

    def group(self, impl):
        return self.info[impl]["group"]

    def is_shmring(self, impl):
        return self.info[impl].get("transport") == "shmring" \
            or impl.startswith("shmring")

    def is_lossless_shmring(self, impl):
        policy = self.info[impl].get("policy") or \
            ("overwrite" if "-ow-" in impl else "lossless")
        return self.is_shmring(impl) and policy == "lossless"

    def peers(self, group=None):
        """The peers of a group (all groups with ratios if None)."""
        groups = [group] if group else list(HEADLINE_PEERS)
        return [p for g in groups for p in HEADLINE_PEERS.get(g, ())
                if p in self.info] + [
            i for i in self.impls if i not in KNOWN_IMPLS and not self.is_shmring(i)
            and self.group(i) in groups and self.group(i) in HEADLINE_PEERS]

    def tp_median(self, impl, scen, size):
        s = self.tp.get((impl, *scen, size), {}).get("records_per_s")
        return s["median"] if s else None

    def best_shmring(self, scen, size, group):
        """(impl, median records/s) of the fastest lossless shmring path of a group."""
        cands = [(v, impl) for impl in self.impls if self.is_lossless_shmring(impl)
                 and self.group(impl) == group
                 and (v := self.tp_median(impl, scen, size)) is not None]
        return max(cands)[::-1] if cands else None

    def lat_groups(self):
        return sorted({(k[1], k[2:4]) for k in self.lat},
                      key=lambda g: (g[0], scen_rank(g[1])))

    def latency_choice(self):
        """(size, scenario) of the latency headline and plot."""
        groups = sorted(self.lat_groups(), key=lambda g: g[0] != 64)
        mine = [g for g in groups if ("shmring-write", g[0], *g[1]) in self.lat]
        return (mine or groups or [None])[0]

    def ordered(self, agg):
        return sorted(agg.items(), key=lambda kv: (self.impls.index(kv[0][0]),)
                      + kv[0][1:])

    def to_json(self, date, cmd, ignored):
        def rows(agg, fields):
            return [dict(zip(fields, k), **self.info[k[0]],
                         stats={m: {f: sig6(x) for f, x in st.items()}
                                for m, st in v.items()})
                    for k, v in self.ordered(agg)]
        return {"date": date, "command": cmd, "meta": self.meta,
                "ignored_lines": ignored, "throughput": rows(self.tp, TP_KEY),
                "latency": rows(self.lat, LAT_KEY),
                "idle": rows(self.idle, ("impl",)),
                "errors": self.errors, "raw": self.raw}


# --- formatting --------------------------------------------------------------

def fmt_num(x):
    """About three significant digits, never an exponent in normal use."""
    if x is None:
        return MISSING
    a = abs(x)
    if a >= 100 or float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.1f}" if a >= 10 else f"{x:.2f}" if a >= 1 else f"{x:#.3g}"


def fmt_si(x):
    """Compact count: 769k, 1.23M."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x is not None and abs(x) >= div * 0.9995:
            return fmt_num(x / div) + suffix
    return fmt_num(x)


def fmt_ratio(r):
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×" if r >= 1 else f"{r:.2g}×"


def fmt_stat(s, fmt, reps):
    """`median [min–max]`, plus (n=…) when n is not the usual count."""
    if not s:
        return MISSING
    text = fmt(s["median"])
    if s["min"] != s["max"]:
        text += f" [{fmt(s['min'])}–{fmt(s['max'])}]"
    return text + (f" (n={s['n']})" if s["n"] != reps else "")


def size_label(size):
    for div, unit in ((1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= div and size % div == 0:
            return f"{size // div} {unit}"
    return f"{size} B"


def scen_label(scen):
    return f"{scen[0]}→{scen[1]}"


def md_table(headers, rows, left=1):
    """A markdown table; the first `left` columns are text, the rest numbers."""
    cells = [[str(c).replace("|", "\\|") for c in r] for r in [headers] + rows]
    rule = [":---"] * left + ["---:"] * (len(headers) - left)
    return "\n".join("| " + " | ".join(r) + " |"
                     for r in cells[:1] + [rule] + cells[1:]) + "\n"


def join_words(words):
    return words[0] if len(words) == 1 else \
        ", ".join(words[:-1]) + " and " + words[-1]


# --- report sections ---------------------------------------------------------

def ratio_row(res, peer, size, best):
    """(table cells or None if the peer is absent, prose on where it wins)."""
    cells, wins, won = [], [], []
    for sc, b in best.items():
        p = res.tp_median(peer, sc, size)
        cells.append(fmt_ratio(b[1] / p) if p and b else MISSING)
        if p and b and b[1] < p:
            wins.append(f"{scen_label(sc)} ({fmt_ratio(b[1] / p)})")
            won.append(b[1] / p)
    if all(res.tp_median(peer, sc, size) is None for sc in best):
        return None, None
    if not wins:
        return cells, None
    if len(wins) > 1 and len(wins) == sum(c != MISSING for c in cells):
        return cells, (f"{peer} in every scenario measured "
                       f"({fmt_ratio(min(won))}–{fmt_ratio(max(won))})")
    return cells, f"{peer} in {join_words(wins)}"


def group_table(res, group, sizes):
    """(markdown table or None, prose) of one group's ratios."""
    best = {sz: {sc: res.best_shmring(sc, sz, group) for sc in res.scenarios}
            for sz in sizes}
    if not any(b for sz in sizes for b in best[sz].values()):
        return None, ""
    rows, prose = [], []
    for sz in sizes:
        rows.append([f"**{size_label(sz)}**", "shmring records/s"]
                    + [f"{fmt_si(b[1])} ({b[0]})" if b else MISSING
                       for b in best[sz].values()])
        beaten = []
        for peer in res.peers(group):
            cells, wins = ratio_row(res, peer, sz, best[sz])
            rows += [["", peer] + cells] if cells else []
            beaten += [wins] if wins else []
        prose.append(f"at {size_label(sz)} " + (
            "shmring results are missing" if not any(best[sz].values()) else
            "shmring is beaten by " + join_words(beaten) if beaten else
            "no peer beats shmring in any measured scenario"))
    table = md_table(["record size", "vs"] + list(map(scen_label, res.scenarios)),
                     rows, left=2)
    return table, f"{GROUP_TITLES[group]}: " + "; ".join(prose) + "."


def headline_tables(res):
    """The headline markdown (throughput ratios by group, latency) and its prose."""
    sizes = [s for s in HEADLINE_SIZES if s in res.sizes]
    if not sizes:
        return ("No throughput results at 64 B or 4 KiB in this run.\n\n"
                + latency_headline(res)), ""
    parts, prose = [], []
    for group in HEADLINE_PEERS:
        table, words = group_table(res, group, sizes)
        if table:
            parts.append(f"**{GROUP_TITLES[group]}** (group {group}: "
                         f"{GROUPS[group]}): the group's fastest lossless "
                         f"shmring path ÷ each peer of the group.\n\n" + table)
            prose.append(words)
    if not parts:
        return ("**shmring (lossless) throughput results at 64 B and 4 KiB "
                "are missing from this run, so there are no ratios.**\n\n"
                + latency_headline(res)), ""
    return ("Records/s delivered to readers, like with like: ratios only "
            "within a group, never across (>1× means shmring is faster).\n\n"
            + "\n".join(parts) + "\n" + latency_headline(res)), \
        " ".join(prose + [UPPER_BOUNDS])


def latency_headline(res):
    choice = res.latency_choice()
    if choice is None:
        return "No wake-up latency results in this run.\n"
    size, scen = choice
    ref = res.lat.get(("shmring-write", size, *scen), {})
    rows = []
    for impl in ["shmring-write"] + res.peers():
        st = res.lat.get((impl, size, *scen))
        if st:
            rows.append([impl] + [fmt_num(st[m]["median"]) for m in ("p50_us", "p99_us")]
                        + [fmt_ratio(st[m]["median"] / ref[m]["median"])
                           if m in ref and ref[m]["median"] > 0 else MISSING
                           for m in ("p50_us", "p99_us")])
    return (f"Wake-up latency at {size_label(size)}, {scen_label(scen)} "
            "(medians in µs; ratio = peer ÷ shmring-write, >1× means shmring "
            "wakes its reader faster). Latency runs send one record per call "
            "on every path, so every row compares.\n\n"
            + ("" if ref else "shmring-write latency is missing from this run.\n\n")
            + md_table(["impl", "p50 µs", "p99 µs", "p50 ratio", "p99 ratio"], rows))


def setup_section(res, date, cmd):
    m = res.meta
    ring = size_label(m["ring_size"]) if is_num(m.get("ring_size")) else "?"
    if is_num(m.get("ring_records")) and m["ring_records"]:
        grown = sorted({(c["size"], c["ring_size"]) for c in res.raw
                        if is_num(c.get("ring_size")) and c["ring_size"] != m.get("ring_size")})
        ring += (f", grown for each record size to hold {m['ring_records']} records "
                 "(up to 16 MiB), the same for every transport"
                 + (": " + ", ".join(f"{size_label(sz)} records in {size_label(r)}"
                                     for sz, r in grown) if grown else ""))
    lines = [
        ("These numbers come from a QEMU TCG guest: the CPU is emulated in "
         "software, so absolute times and rates mean nothing."
         if m.get("emulated", True) else "These numbers come from real hardware.")
        + " Only ratios within one table (one boot) mean anything; compare "
        "nothing across runs or machines.", "",
        f"Each figure is the median of {res.reps or 'N'} repetitions, with "
        "[min–max]; a cell with a different number of runs says so with (n=…). "
        f"Cells not measured show {MISSING}.", "",
        f"- date: {date}", f"- command: `{cmd}`",
        f"- bench: `{m.get('argv', 'unknown')}` ({m.get('tool', 'shmring-bench')} "
        f"{m.get('version', '?')})",
        f"- kernel: {m.get('kernel', 'unknown')}, CPUs: {m.get('cpus', '?')}, "
        f"ring size: {ring}, reps: {m.get('reps', '?')}, batch: {m.get('batch', '?')}",
    ]
    others = {k: v for k, v in m.items() if k not in META_SHOWN}
    if others:
        lines.append("- settings: " + ", ".join(
            f"{k} = {json.dumps(v)}" for k, v in sorted(others.items())))
    limits = m.get("limits") or {}
    if limits:
        lines.append("- limits: " + ", ".join(
            f"{k} = {v}" for k, v in sorted(limits.items())))
    if not m:
        lines.append("- the raw file has no meta line")
    return "\n".join(lines) + "\n"


def impls_section(res):
    rows = [[i, res.group(i), IMPL_NOTES.get(i, "(not described)")]
            for i in res.impls]
    groups = "".join(f"- **{g}**: {GROUPS[g]}.\n" for g in GROUPS
                     if any(res.group(i) == g for i in res.impls))
    return ("Every implementation is in one group, and ratios are only taken "
            "within a group: a batch against one record per call measures "
            "batching, not the transport. shmring's readers are the same "
            "in both groups (in place, a position per record); the groups "
            "differ by how writers send.\n\n" + groups + "\n"
            + md_table(["impl", "group", "what"], rows, left=3)) \
        if rows else "Nothing.\n"


def lost(stats):
    return stats.get("records_lost", {"max": 0})["max"] > 0


def cpu_cell(st, reps):
    text = fmt_stat(st.get("cpu_s_per_mrec"), fmt_num, reps)
    if "cpu_s_per_mrec" in st:
        text += (f" = {fmt_num(st['cpu_user_s_per_mrec']['median'])} u"
                 f" + {fmt_num(st['cpu_sys_s_per_mrec']['median'])} s")
    return text


def scenario_section(res, scen):
    cell = {(i, sz): res.tp.get((i, *scen, sz), {})
            for i in res.impls for sz in res.sizes}
    impls = [i for i in res.impls if any(cell[(i, sz)] for sz in res.sizes)]
    heads = ["impl", "group"] + list(map(size_label, res.sizes))
    out = [f"### {scen_label(scen)} ({scen[0]} writer{'s' * (scen[0] > 1)}, "
           f"{scen[1]} reader{'s' * (scen[1] > 1)})\n"]
    for metric, title, fmt in (("records_per_s", "Records/s delivered", fmt_si),
                               ("mb_per_s", "MB/s delivered", fmt_num)):
        rows = [[i, res.group(i)] + [fmt_stat(cell[(i, sz)].get(metric), fmt, res.reps)
                       + (" †" if fmt is fmt_si and lost(cell[(i, sz)]) else "")
                       for sz in res.sizes] for i in impls]
        out.append(f"{title}:\n\n" + md_table(heads, rows, left=2))
    if any(map(lost, cell.values())):
        out.append("† records were lost (overwrite policy), see below.\n")
    sizes = [s for s in HEADLINE_SIZES if s in res.sizes]
    if sizes:
        heads = ["impl", "group"] + [f"{what} {size_label(sz)}" for sz in sizes
                                     for what in ("CPU s/Mrec", "syscalls/rec W",
                                                  "syscalls/rec R")]
        rows = [[i, res.group(i)] + [c for sz in sizes for c in (
                    cpu_cell(cell[(i, sz)], res.reps),
                    res.syscalls(cell[(i, sz)], "w_syscalls_per_rec"),
                    res.syscalls(cell[(i, sz)], "r_syscalls_per_rec"))]
                for i in impls]
        out.append("CPU seconds per million delivered records (user + system) "
                   "and system calls per record, of the writers (W, per "
                   "record written) and of the readers (R, per record "
                   "delivered):\n\n" + md_table(heads, rows, left=2))
    return "\n".join(out)


def syscalls_section(res):
    """Writers' and readers' system calls per record, every impl and scenario."""
    if res.meta.get("syscalls_counted", True) is False:
        return "System calls were not counted in this run.\n"
    out = []
    for sz in res.sizes:
        rows = []
        for i in res.impls:
            cells = []
            for sc in res.scenarios:
                st = res.tp.get((i, *sc, sz), {})
                w, r = st.get("w_syscalls_per_rec"), st.get("r_syscalls_per_rec")
                cells.append(f"{fmt_num(w['median'])} / "
                             f"{fmt_num(r['median']) if r else MISSING}"
                             if w else MISSING)
            if any(c != MISSING for c in cells):
                rows.append([i, res.group(i)] + cells)
        if rows:
            out.append(f"{size_label(sz)}, writers / readers (medians):\n\n"
                       + md_table(["impl", "group"]
                                  + list(map(scen_label, res.scenarios)),
                                  rows, left=2))
    if not out:
        return ("This run has no per-role system call counts (a raw file "
                "from before they were counted).\n")
    return ("System calls per record at saturation (the throughput runs), "
            "writers per record written and readers per record delivered: "
            "every libc entry point into the kernel is counted "
            "(shmring-bench(1)); the raw lines have the counts by call.\n\n"
            + "\n".join(out))


def overwrite_section(res):
    if not any(res.is_shmring(i) and not res.is_lossless_shmring(i) for i in res.impls):
        return "No overwrite-policy runs in this file.\n"
    rows = [[k[0], scen_label(k[1:3]), size_label(k[3]),
             fmt_stat(st["records_lost"], fmt_si, res.reps)]
            + [fmt_si(st.get(m, {}).get("median"))
               for m in ("records_written", "records_delivered")]
            for k, st in res.ordered(res.tp)
            if res.is_shmring(k[0]) and not res.is_lossless_shmring(k[0]) and lost(st)]
    return ("Overwrite rings never make a writer wait; a reader that is lapped "
            "loses records and is told how many. They are not in the headline, "
            "which compares lossless paths only.\n\n"
            + (md_table(["impl", "scenario", "size", "records lost",
                         "written (median)", "delivered (median)"], rows)
               if rows else "No records were lost in any overwrite run.\n"))


def latency_section(res):
    out = [f"{size_label(size)}, {scen_label(scen)}, µs:\n\n" + md_table(
        ["impl", "p50", "p99", "p99.9"],
        [[i] + [fmt_stat(res.lat[(i, size, *scen)].get(m), fmt_num, res.reps)
                for m in LAT_METRICS]
         for i in res.impls if (i, size, *scen) in res.lat])
        for size, scen in res.lat_groups()]
    return "\n".join(out) or "No latency results in this run.\n"


def idle_section(res):
    if not res.idle:
        return "No idle results in this run.\n"
    rows = [[k[0]] + [fmt_stat(st.get(m), fmt_num, res.reps)
                      for m in ("seconds", "cpu_pct")] + [res.syscalls(st, "syscalls")]
            for k, st in res.ordered(res.idle)]
    return ("A reader blocked with nothing to read: its CPU use and the "
            "system calls it makes over the interval.\n\n"
            + md_table(["impl", "seconds", "CPU %", "syscalls"], rows))


def errors_section(res):
    rows = [[e.get("impl", "?"), str(e.get("phase", "")),
             scen_label((e["writers"], e["readers"])) if "writers" in e
             and "readers" in e else "",
             size_label(e["size"]) if is_num(e.get("size")) else "",
             e["message"]] for e in res.errors]
    return md_table(["impl", "phase", "scenario", "size", "message"], rows, left=5) \
        if rows else "None.\n"


def build_report(res, date, cmd, ignored, plots):
    headline, prose = headline_tables(res)
    parts = [
        "<!-- SPDX-License-Identifier: GPL-2.0 -->\n# shmring benchmark\n",
        "Generated by `bench/report.py` from the raw output of "
        "`shmring-bench`; do not edit by hand.\n",
        setup_section(res, date, cmd),
        "## Headline\n", headline] + ([prose + "\n"] if prose else []) + [
        "## What was measured\n",
        "Scenarios are writers→readers; every reader receives every record, "
        "so records/s counts records delivered to readers (1→4 delivers four "
        "times what is written).\n",
        impls_section(res),
        "## Throughput by scenario\n"]
    parts += [scenario_section(res, sc) for sc in res.scenarios] or ["None.\n"]
    parts += ["## System calls per record\n", syscalls_section(res),
              "## Overwrite policy\n", overwrite_section(res),
              "## Wake-up latency\n", latency_section(res),
              "## Idle cost\n", idle_section(res),
              "## Errors\n", errors_section(res)]
    if plots:
        parts += ["## Plots\n"] + [f"![{title}](bench/{name}.svg)\n"
                                   for name, title, _ in plots]
    if ignored:
        parts.append(f"{ignored} line(s) of the raw file were not valid "
                     "records and were ignored.\n")
    return "\n".join(parts)


# --- plots -------------------------------------------------------------------

def plan_plots(res):
    """[(name, title, what)] of the plots the data allows."""
    plots = [(f"throughput-{sz}", f"records/s at {size_label(sz)}", ("tp", sz))
             for sz in HEADLINE_SIZES if sz in res.sizes]
    choice = res.latency_choice()
    if choice:
        plots.append(("latency", f"wake-up latency at {size_label(choice[0])}, "
                      f"{scen_label(choice[1])}", ("lat", choice)))
    return plots


def plot_data(res, what):
    """(data file text, series titles, y label, y tic format, y values)."""
    kind, arg = what
    if kind == "tp":
        series = [(scen_label(sc), lambda i, sc=sc: res.tp.get((i, *sc, arg), {})
                   .get("records_per_s")) for sc in res.scenarios]
        ylabel, yfmt = "records/s delivered (log scale)", "%.0s%c"
    else:
        series = [(m[:3], lambda i, m=m: res.lat.get((i, arg[0], *arg[1]), {}).get(m))
                  for m in ("p50_us", "p99_us")]
        ylabel, yfmt = "wake-up latency, µs (log scale)", "%g"
    lines, ys = [], []
    for impl in res.impls:
        stats = [get(impl) for _, get in series]
        if any(stats):
            lines.append(f'"{impl}" ' + " ".join(
                f"{s['median']!r} {s['min']!r} {s['max']!r}" if s else "NaN NaN NaN"
                for s in stats))
            ys += [v for s in stats if s for v in (s["min"], s["max"]) if v > 0]
    return "\n".join(lines) + "\n", [t for t, _ in series], ylabel, yfmt, ys


def gp_script(data, out, terminal, title, titles, ylabel, yfmt, ys):
    lo = 10 ** math.floor(math.log10(min(ys))) if ys else 1
    hi = 10 ** math.ceil(math.log10(max(ys) * 1.2)) if ys else 10
    series = ", ".join(
        (f'"{data}" using 2:3:4:xtic(1)' if k == 0 else
         f'"" using {2 + 3 * k}:{3 + 3 * k}:{4 + 3 * k}')
        + f' title "{t}" lc rgb "{COLORS[k % len(COLORS)]}"'
        for k, t in enumerate(titles))
    return f"""set terminal {terminal}
set output "{out}"
set title "{title}" noenhanced
set style data histograms
set style histogram errorbars gap 1.5 lw 1
set style fill solid 0.9 border rgb "#333333"
set logscale y
set yrange [{lo!r}:{hi!r}]
set format y "{yfmt}"
set ylabel "{ylabel}" noenhanced
set key outside bottom center horizontal noenhanced
set xtics rotate by 30 right nomirror noenhanced
set ytics nomirror
set grid ytics
set bmargin 6
plot {series}
"""


def draw_plots(res, plots, outdir, gnuplot):
    """Write the plots with one gnuplot run; exit 1 if gnuplot fails."""
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shmring-report-") as tmp:
        script = []
        for name, title, what in plots:
            data, *rest = plot_data(res, what)
            dat = Path(tmp) / f"{name}.dat"
            dat.write_text(data, encoding="utf-8")
            targets = [("svg", 'svg size 900,500 font "DejaVu Sans,12" '
                               'background "white"')]
            if name == "throughput-64":
                targets.append(("png", 'pngcairo size 900,500 font "DejaVu Sans,10"'))
            script += [gp_script(dat, outdir / f"{name}.{ext}", term,
                                 f"shmring benchmark: {title}", *rest)
                       for ext, term in targets]
        gp = Path(tmp) / "plots.gp"
        gp.write_text("\nreset\n".join(script), encoding="utf-8")
        proc = subprocess.run([gnuplot, str(gp)], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"report.py: gnuplot failed (exit {proc.returncode}):\n{proc.stderr}")


# --- outputs -----------------------------------------------------------------

def dump_json(doc):
    """Sorted-key JSON with one line per list element (diff-friendly)."""
    def one(v):
        return json.dumps(v, sort_keys=True, ensure_ascii=False)
    items = [f" {one(k)}: " + ("[\n  " + ",\n  ".join(map(one, v)) + "\n ]"
                               if isinstance(v, list) and v else one(v))
             for k, v in sorted(doc.items())]
    return "{\n" + ",\n".join(items) + "\n}\n"


def write_file(path, text):
    """Write text to path unless it already holds exactly that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    print(f"report.py: wrote {path}")


def update_readme(readme, block):
    """Replace the text between the headline markers, if both are there."""
    if not readme.exists():
        return
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    marks = [k for k, line in enumerate(lines) if line.strip() in (BEGIN, END)]
    if len(marks) == 2 and lines[marks[0]].strip() == BEGIN:
        write_file(readme, "".join(lines[:marks[0] + 1] + [block] + lines[marks[1]:]))


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path, help="raw JSON-lines output of shmring-bench")
    ap.add_argument("--date", required=True, help="date of the run, YYYY-MM-DD")
    ap.add_argument("--cmd", required=True, help="command that produced the raw file")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="repository root (default: the parent of bench/)")
    args = ap.parse_args(argv)
    try:
        if len(args.date) != 10:
            raise ValueError
        datetime.date.fromisoformat(args.date)
    except ValueError:
        ap.error(f"--date {args.date!r} is not YYYY-MM-DD")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        objs, ignored = load_raw(args.raw)
    except OSError as e:
        sys.exit(f"report.py: {args.raw}: {e.strerror}")
    res = Results(objs)
    print(f"report.py: {args.raw}: " + ", ".join(
        f"{sum(o['kind'] == k for o in objs)} {k}" for k in REQUIRED)
        + f"; {ignored} line(s) ignored")
    root, plots = args.root, plan_plots(res)
    headline, _ = headline_tables(res)
    write_file(root / "bench" / "results" / f"{args.date}.json",
               dump_json(res.to_json(args.date, args.cmd, ignored)))
    write_file(root / "docs" / "bench.md",
               build_report(res, args.date, args.cmd, ignored, plots))
    write_file(root / "bench" / "results" / "headline.md", headline)
    where = "QEMU TCG guest (emulated CPU)" if res.meta.get("emulated", True) \
        else "real hardware"
    update_readme(root / "README.md", headline + (
        f"\nMeasured {args.date} in a {where}, median of {res.reps or 'N'} runs; "
        "only ratios are meaningful. Full report: [docs/bench.md](docs/bench.md).\n")
        + ("\n![records/s at 64 B](docs/bench/throughput-64.png)\n"
           if any(p[0] == "throughput-64" for p in plots) else ""))

    outdir = root / "docs" / "bench"
    for pattern in ("throughput-*.svg", "throughput-*.png", "latency.svg"):
        for stale in sorted(outdir.glob(pattern)):
            stale.unlink()
    if not plots:
        return 0
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("report.py: error: gnuplot not found (apt-get install gnuplot-nox); "
              "the JSON and markdown are written, the plots are not", file=sys.stderr)
        return 1
    draw_plots(res, plots, outdir, gnuplot)
    for path in sorted(outdir.glob("*.svg")) + sorted(outdir.glob("*.png")):
        print(f"report.py: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

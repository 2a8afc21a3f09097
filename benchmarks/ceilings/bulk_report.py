#!/usr/bin/env python3
"""Per-MB CPU, system calls and context switches of each bulk16 window recorded by bulk.sh.

usage: bulk_report.py OUT_DIR SECONDS
Thread groups (by the kernel's 15-character thread name): the generator's writer threads
("bulk-*"), the app's sink loops ("app-*"), the zerohop proxies' event loops ("zerohop-*",
"hbone-*"), the JIT, GC, and the rest. User and system time come from /proc/<pid>/task/<tid>/stat
sampled every 0.5 s (clock ticks, 10 ms), restricted to samples inside the measured window; this
kernel has no IRQ time accounting, so loopback's receive softirq is charged as system time to
whichever thread was running (mostly the sender). System calls and context switches come from
perf stat over exactly the window.
"""
import glob
import os
import re
import sys
import time

out, seconds = sys.argv[1], float(sys.argv[2])
HZ = os.sysconf("SC_CLK_TCK")


def group(comm):
    c = comm.replace("_", " ")
    if c.startswith("bulk-"):
        return "generator (16 writer threads)"
    if c.startswith("app-"):
        return "app sink loops"
    if c.startswith("zerohop-") or c.startswith("hbone-"):
        return "proxy event loops"
    if "Compiler" in c:
        return "JIT"
    if c.startswith("GC ") or c.startswith("VM Thread") or c.startswith("G1"):
        return "GC/VM"
    return "other"


samples = []  # (ts, cpu fields, {tid: (ut, st, comm)})
cur = None
for line in open(os.path.join(out, "samples.txt")):
    f = line.split()
    if not f:
        continue
    if f[0] == "T":
        cur = [float(f[1]), None, {}]
        samples.append(cur)
    elif f[0] == "cpu":
        cur[1] = [int(x) for x in f[1:]]
    elif f[0] == "K" and len(f) >= 5:
        cur[2][f[1]] = (int(f[2]), int(f[3]), f[4])

rows = {}
for csv in sorted(glob.glob(os.path.join(out, "*-16.csv"))):
    tag = os.path.basename(csv)[:-4]
    bfile = csv[:-4] + ".bytes"
    nbytes = int(open(bfile).read().strip())
    end = os.path.getmtime(bfile) - 0.05
    start = end - seconds
    mb = nbytes / 1e6
    inside = [s for s in samples if start <= s[0] <= end and s[1] is not None]
    if len(inside) < 2:
        print(f"{tag}: no samples inside the window")
        continue
    a, b = inside[0], inside[-1]
    span = b[0] - a[0]
    # /proc/stat: user nice system idle iowait irq softirq steal
    d = [y - x for x, y in zip(a[1], b[1])]
    tot = sum(d[:8])
    busy = d[0] + d[1] + d[2] + d[5] + d[6]
    mbps = mb / seconds  # the window's own rate (bytes over the whole window)
    mb_in_span = mbps * span
    groups = {}
    jvm_cpu = 0
    for tid, (ut, st, comm) in b[2].items():
        ut0, st0, _ = a[2].get(tid, (0, 0, comm))
        g = groups.setdefault(group(comm), [0.0, 0.0, 0.0, 0.0, 0.0])
        g[0] += (ut - ut0) / HZ
        g[1] += (st - st0) / HZ
        jvm_cpu += (ut - ut0 + st - st0) / HZ
    for line in open(csv):
        if line.startswith("#") or "," not in line:
            continue
        f = line.strip().split(",")
        if len(f) < 4:
            continue
        comm = re.sub(r"-[0-9]+$", "", f[0])
        try:
            v = float(f[1])
        except ValueError:
            continue
        g = groups.setdefault(group(comm), [0.0, 0.0, 0.0, 0.0, 0.0])
        if f[3] == "raw_syscalls:sys_enter":
            g[2] += v
        elif f[3] == "context-switches":
            g[3] += v
        elif f[3] == "task-clock":
            g[4] += v / 1e3  # msec -> s
    loops = {}
    for line in open(csv):
        f = line.strip().split(",")
        if len(f) >= 4 and f[3] == "task-clock" and (f[0].startswith("zerohop-") or f[0].startswith("hbone-") or f[0].startswith("app-")):
            try:
                loops[f[0]] = float(f[1]) / 1e3 / mb * 1e6
            except ValueError:
                pass  # "<not counted>": the thread did not run in the window
    rows[tag] = dict(loops=loops, mbps=mbps, span=span, cpu_busy=busy / tot, idle=d[3] / tot, steal=d[7] / tot, sys_share=(d[2] + d[6]) / tot,
                     jvm_cpus=jvm_cpu / span, groups=groups, mb_span=mb_in_span, mb=mb)

for tag, r in rows.items():
    print(f"\n### {tag}: {r['mbps']:.0f} MB/s over the window; sampled span {r['span']:.1f} s")
    print(f"all CPUs (/proc/stat): busy {100 * r['cpu_busy']:.0f} %, idle {100 * r['idle']:.0f} %, steal {100 * r['steal']:.0f} %; "
          f"this JVM uses {r['jvm_cpus']:.2f} of 2 vCPUs")
    print("| thread group | user µs/MB | system µs/MB | CPU µs/MB | perf task-clock µs/MB | syscalls/MB | context switches/MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    tu = ts = tc = tsc = tcs = 0
    for g, v in sorted(r["groups"].items()):
        u = v[0] / r["mb_span"] * 1e6
        s = v[1] / r["mb_span"] * 1e6
        tc_ = v[4] / r["mb"] * 1e6
        if u + s + v[2] == 0:
            continue
        print(f"| {g} | {u:.0f} | {s:.0f} | {u + s:.0f} | {tc_:.0f} | {v[2] / r['mb']:.1f} | {v[3] / r['mb']:.2f} |")
        tu += u; ts += s; tc += tc_; tsc += v[2] / r["mb"]; tcs += v[3] / r["mb"]
    print(f"| **total** | {tu:.0f} | {ts:.0f} | {tu + ts:.0f} | {tc:.0f} | {tsc:.1f} | {tcs:.2f} |")
    for name, us in sorted(r["loops"].items()):
        if us >= 10:
            print(f"- event loop thread {name}: {us:.0f} µs/MB (perf task-clock): alone on one vCPU it could carry at most {1e6 / us:.0f} MB/s")
    r["total"] = tu + ts
    r["tc_total"] = tc
    # The data path only: the JIT still compiling and GC are not a steady-state cost per MB.
    r["tc_path"] = sum(v[4] for g, v in r["groups"].items() if g not in ("JIT", "GC/VM", "other")) / r["mb"] * 1e6
    r["tc_all"] = sum(v[4] for v in r["groups"].values())
    print(f"data-path threads (generator + sink + proxies; no JIT/GC): {r['tc_path']:.0f} µs/MB (perf task-clock); "
          f"this JVM's threads used {r['tc_all'] / seconds:.2f} vCPUs during the window (perf task-clock)")
    r["proxy_user"] = r["groups"].get("proxy event loops", [0, 0])[0] / r["mb_span"] * 1e6
    r["proxy_sys"] = r["groups"].get("proxy event loops", [0, 0])[1] / r["mb_span"] * 1e6

tcp = rows.get("tcp-16")
node = rows.get("zerohop-node-16")
if tcp and node:
    print(f"\nmeasured ratio node/TCP: {node['mbps'] / tcp['mbps']:.2f}")
    print(f"CPU-bound ceiling (TCP CPU per MB / node CPU per MB): ticks {tcp['total'] / node['total']:.2f}, "
          f"perf task-clock {tcp['tc_total'] / node['tc_total']:.2f}, data-path threads only {tcp['tc_path'] / node['tc_path']:.2f}")
    t, n = tcp["tc_path"], node["tc_path"]
    # The user/system split comes from clock ticks; scale it to the loops' exact task-clock.
    loops_tc = node["groups"].get("proxy event loops", [0, 0, 0, 0, 0])[4] / node["mb"] * 1e6
    ticks = node["proxy_user"] + node["proxy_sys"]
    pu, ps = (loops_tc * node["proxy_user"] / ticks, loops_tc * node["proxy_sys"] / ticks) if ticks else (0, 0)
    print(f"proxy loops: {loops_tc:.0f} µs/MB (task-clock) = user {pu:.0f} + system {ps:.0f} (split by ticks); "
          f"data path TCP {t:.0f}, node {n:.0f} µs/MB (task-clock)")
    print(f"ceiling if the proxies' user-space work were zero: TCP {t:.0f} / node {n - pu:.0f} = {t / (n - pu):.2f}")
    print(f"ceiling if the proxies cost nothing at all (no system calls either): {t / max(1, n - pu - ps):.2f}")

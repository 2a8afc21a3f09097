#!/bin/bash
# System calls by name per MB delivered, per thread group, from a bulk.sh run with syscall tracepoints:
#   PERF_EVENTS=task-clock,raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_read,... OUT=DIR benchmarks/ceilings/bulk.sh
#   benchmarks/ceilings/bulk_calls.sh DIR
set -u
for csv in "$1"/*-16.csv; do
    mb=$(awk '{print $1 / 1e6}' "${csv%.csv}.bytes")
    echo "### $(basename "${csv%.csv}") (calls per MB delivered)"
    grep -v '^#' "$csv" | awk -F, -v mb="$mb" '$4 ~ /^syscalls:sys_enter_/ && $2 ~ /^[0-9.]+$/ {
        t = $1; sub(/-[0-9]+$/, "", t)
        g = "other"
        if (t ~ /^bulk-/) g = "generator"; else if (t ~ /^app-/) g = "app sink"; else if (t ~ /^(zerohop|hbone)-/) g = "proxy loops"
        e = $4; sub(/syscalls:sys_enter_/, "", e)
        c[g "|" e] += $2 }
        END { for (k in c) if (c[k] / mb >= 0.05) { split(k, a, "|"); printf "  %-12s %-14s %8.2f\n", a[1], a[2], c[k] / mb } }' | sort
done

#!/usr/bin/env python3
"""Runs one benchmark of two builds alternately, in one run, and prints both side by side.

    compare.py --bench ledger|projections --old BIN --new BIN [--rounds N] [--out DIR] [-- ARGS]

The machines are noisy, so a figure only means something next to the other build's figure
from the same minutes: each round runs the old binary, then the new one (the order flips
every round), and the table gives per metric the median over the rounds of each build's
p50 and p99 and the ratio new/old. Every round's JSON stays under DIR.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run_ledger(binary, args, out_json, env):
    subprocess.run([binary, f"--benchmark_out={out_json}", "--benchmark_out_format=json", *args],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    with open(out_json) as f:
        data = json.load(f)
    metrics = {}
    for b in data["benchmarks"]:
        if "p50_ms" in b:
            metrics[b["name"]] = {"p50": b["p50_ms"], "p99": b["p99_ms"]}
        elif "items_per_second" in b:
            metrics[b["name"]] = {"items/s": b["items_per_second"]}
        else:
            metrics[b["name"]] = {"real_time": b["real_time"]}
    return metrics


def run_projections(binary, args, out_json, env):
    # The benchmark writes bench/results/projections.json under its working directory.
    with tempfile.TemporaryDirectory() as cwd:
        subprocess.run([binary, *args], check=True, cwd=cwd, stdout=subprocess.DEVNULL, env=env)
        with open(os.path.join(cwd, "bench", "results", "projections.json")) as f:
            data = json.load(f)
    with open(out_json, "w") as f:
        json.dump(data, f, indent=2)
    metrics = {}
    for name, m in data.items():
        if "p50" in m:
            metrics[name] = {"p50": m["p50"], "p99": m["p99"]}
        elif "value" in m:
            metrics[name] = {"value": m["value"]}
    return metrics


RUNNERS = {"ledger": run_ledger, "projections": run_projections}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", choices=sorted(RUNNERS), required=True)
    ap.add_argument("--old", required=True, help="the old build's benchmark binary")
    ap.add_argument("--new", required=True, help="the new build's benchmark binary")
    ap.add_argument("--old-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment of the old binary only")
    ap.add_argument("--old-label", default="old")
    ap.add_argument("--new-label", default="new")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="bench/results/compare")
    ap.add_argument("args", nargs="*", help="passed to both binaries")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    old_env = dict(os.environ)
    for kv in a.old_env:
        key, _, value = kv.partition("=")
        old_env[key] = value
    runs = {"old": [], "new": []}
    for r in range(a.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for which in order:
            binary = a.old if which == "old" else a.new
            out_json = os.path.join(a.out, f"{a.bench}-{which}-{r + 1}.json")
            print(f"compare: round {r + 1}/{a.rounds}: {which} ({binary})", file=sys.stderr)
            env = old_env if which == "old" else dict(os.environ)
            runs[which].append(RUNNERS[a.bench](binary, a.args, out_json, env))

    rows = []
    names = sorted(set().union(*[set(m) for m in runs["old"] + runs["new"]]))
    for name in names:
        fields = sorted(set().union(*[set(m.get(name, {})) for m in runs["old"] + runs["new"]]))
        for field in fields:
            olds = [m[name][field] for m in runs["old"] if name in m and field in m[name]]
            news = [m[name][field] for m in runs["new"] if name in m and field in m[name]]
            if not olds or not news:
                continue
            o, n = statistics.median(olds), statistics.median(news)
            rows.append((name, field, o, n, n / o if o else float("nan")))
    width = max([len(r[0]) for r in rows] + [6])
    print(f"{'metric':<{width}} {'field':>9} {a.old_label:>12} {a.new_label:>12} {'new/old':>8}")
    for name, field, o, n, ratio in rows:
        print(f"{name:<{width}} {field:>9} {o:>12.3f} {n:>12.3f} {ratio:>8.2f}")
    summary = {"bench": a.bench, "rounds": a.rounds, "old": a.old_label, "new": a.new_label,
               "rows": [{"metric": r[0], "field": r[1], "old": r[2], "new": r[3], "ratio": r[4]}
                        for r in rows]}
    with open(os.path.join(a.out, f"{a.bench}-summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""End-to-end benchmark on the lab, measured from the SDK (docs/design.md §11).

For N applies to one lab region (default aws:us-east-1, both clusters), each changing
both resources of a state of one RedisDatabase and one AerospikeCluster:
  apply_rpc        ApplyState round trip
  apply_to_crs     ApplyState sent → the changed CR carries the new version in every
                   cluster of the region (kubectl watches, one per cluster)
  apply_to_ready   ApplyState sent → wait_ready returns (every resource ready everywhere)
  status_to_watch  a resource status observed by the regional plane (observed_at) → the
                   event received by watch_status
and, from the same applies, where apply_to_crs goes, hop by hop, per cluster (wall clock,
one machine): the RPC's return, the snapshot published (the Kafka record's CreateTime,
which the plane logs beside its consumption), consumed by the cluster's plane, its
reconcile begun, then the reconcile's phases from its "reconciled version" line (reading
the cluster and planning, the applied-version record, the CR writes, the state cache's
save), and the CR writes done → seen by the CR watch.
Writes p50/p90/p99/max/n as JSON under bench/results/ and prints a table. Run it with
`tools/bench e2e [--n 200] [--region aws:us-east-1]`; it needs the whole lab.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import e2e_lab  # noqa: E402

import senren  # noqa: E402
from senren import AerospikeCluster, AerospikeNamespace, Client, RedisDatabase  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    s = sorted(samples)

    def pct(p: float) -> float:
        # Nearest rank: the smallest sample with at least p % of the samples at or below it.
        k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
        return round(s[k], 3)

    return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(s[-1], 3), "n": len(s)}


class CrWatch(threading.Thread):
    """`kubectl get --watch` of one CR in one cluster: when each state version first appeared."""

    def __init__(self, env: dict[str, str], cluster: e2e_lab.Cluster, plural: str, name: str) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.seen: dict[int, float] = {}
        self.seen_wall: dict[int, float] = {}
        self.cond = threading.Condition()
        exe = os.path.join(env.get("SENREN_KUBE_BIN", ""), "kubectl")
        self.proc = subprocess.Popen(
            [exe, "--kubeconfig", cluster.kubeconfig, "-n", "senren", "get", f"{plural}.senren.io",
             "--watch", "-o", "json", "--field-selector", f"metadata.name={name}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def run(self) -> None:
        buf: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            buf.append(line)
            if line.rstrip("\n") != "}":
                continue
            now, wall = time.monotonic(), time.time()
            try:
                obj = json.loads("".join(buf))
            except ValueError:
                continue
            buf = []
            obj = obj.get("object", obj)
            ann = obj.get("metadata", {}).get("annotations", {}) or {}
            try:
                v = int(ann.get("senren.io/state-version", "0"))
            except ValueError:
                continue
            with self.cond:
                self.seen.setdefault(v, now)
                self.seen_wall.setdefault(v, wall)
                self.cond.notify_all()

    def wait_version(self, version: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(v >= version for v in self.seen):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"CR at version {version} not seen in {self.cluster.slug}")
                self.cond.wait(left)
            return min(t for v, t in self.seen.items() if v >= version)

    def stop(self) -> None:
        self.proc.terminate()


LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\]")
CONSUMED = re.compile(r"\] snapshot version (\d+) \(\d+ resources\) at \d+:\d+, published ([\d.]+) ms earlier")
RECONCILED = re.compile(r"\] reconciled version (\d+): .* in ([\d.]+) ms \(record ([\d.]+) ms, "
                        r"CRs ([\d.]+) ms, cache ([\d.]+) ms\)")


def log_time(line: str) -> float | None:
    m = LOG_TIME.match(line)
    if not m:
        return None
    stamp = m.group(1)
    # spdlog writes local time with %e (ms) or %f (µs); the lab's daemons run on this machine.
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    return datetime.strptime(stamp, fmt).timestamp()


def plane_events(lab_dir: str, cluster: e2e_lab.Cluster, versions: set[int]) -> dict[int, dict[str, float]]:
    """From the cluster's senren-regional log: per version, when it was published (wall),
    consumed and reconciled. Versions of other writers are skipped."""
    out: dict[int, dict[str, float]] = {}
    path = Path(lab_dir) / "logs" / cluster.slug / "senren-regional.log"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        if (m := CONSUMED.search(line)) and int(m.group(1)) in versions:
            t = log_time(line)
            if t is not None:
                e = out.setdefault(int(m.group(1)), {})
                e.setdefault("consumed", t)
                e.setdefault("published", t - float(m.group(2)) / 1000)
        elif (m := RECONCILED.search(line)) and int(m.group(1)) in versions:
            t = log_time(line)
            if t is not None and "reconciled" not in out.get(int(m.group(1)), {}):
                total, record, crs, cache = (float(m.group(i)) / 1000 for i in range(2, 6))
                e = out.setdefault(int(m.group(1)), {})
                e["reconciled"] = t
                # The reconcile's phases: reading the cluster and planning, the
                # applied-version record's read (when made) and update, the CR writes, the
                # state cache's save. The CR writes come right after the record, the
                # cache's save right after them.
                e["began"] = t - total
                e["crs_done"] = t - cache
                e["writing_crs"] = e["crs_done"] - crs
                e["recording"] = e["writing_crs"] - record
    return out


HOPS = ("send_to_rpc_return", "rpc_return_to_published", "published_to_consumed",
        "consumed_to_reconcile_began", "reconcile_plan", "reconcile_record", "reconcile_crs",
        "reconcile_cache", "crs_done_to_watch_seen")


def hop_samples(sent: dict[int, tuple[float, float]], watches: list["CrWatch"],
                events: dict[str, dict[int, dict[str, float]]]) -> dict[str, list[float]]:
    """Per apply and cluster, the time of each hop of apply_to_crs, in ms."""
    out: dict[str, list[float]] = {h: [] for h in HOPS}
    for version, (t_send, t_return) in sent.items():
        out["send_to_rpc_return"].append((t_return - t_send) * 1000)
        for w in watches:
            e = events.get(w.cluster.slug, {}).get(version)
            seen = w.seen_wall.get(version)
            if not e or seen is None or not {"published", "consumed", "reconciled"} <= e.keys():
                continue
            out["rpc_return_to_published"].append((e["published"] - t_return) * 1000)
            out["published_to_consumed"].append((e["consumed"] - e["published"]) * 1000)
            out["consumed_to_reconcile_began"].append((e["began"] - e["consumed"]) * 1000)
            out["reconcile_plan"].append((e["recording"] - e["began"]) * 1000)  # with the floor's check
            out["reconcile_record"].append((e["writing_crs"] - e["recording"]) * 1000)
            out["reconcile_crs"].append((e["crs_done"] - e["writing_crs"]) * 1000)
            out["reconcile_cache"].append((e["reconciled"] - e["crs_done"]) * 1000)
            out["crs_done_to_watch_seen"].append((seen - e["crs_done"]) * 1000)
    return out


class StatusLatency(threading.Thread):
    """watch_status of the region: receive time − observed_at of each resource event."""

    def __init__(self, client: Client, region: str, names: set[str]) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = []
        self.names = names
        self.watch = client.watch_status(region)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for e in self.watch:
                if e.resource and e.resource.name in self.names and e.resource.observed_at:
                    lag = datetime.now(timezone.utc) - e.resource.observed_at
                    self.samples.append(lag.total_seconds() * 1000)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            self.error = e


def save_result(out_dir: str, bench: str, result: dict) -> Path:
    """Writes a run's JSON as bench/results/<bench>-<time>.json and <bench>.json (the latest)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    path = out / f"{bench}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (out / f"{bench}.json").write_text(text)
    return path


def print_table(title: str, rows: dict[str, dict[str, float]], missing: str = "") -> None:
    """One line per metric (its name without the _ms suffix): p50, p90, p99, max, n."""
    print(f"\n{title:<28} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9} {'n':>6}")
    for k, m in rows.items():
        if m.get("n"):
            print(f"{k[:-3]:<28} {m['p50']:>9.1f} {m['p90']:>9.1f} {m['p99']:>9.1f} {m['max']:>9.1f} {m['n']:>6}")
        else:
            print(f"{k[:-3]:<28} {'-':>9} {'-':>9} {'-':>9} {'-':>9} {0:>6}{missing}")


def main() -> int:
    ap = argparse.ArgumentParser(description="End-to-end benchmark from the SDK (tools/bench e2e)")
    ap.add_argument("--n", type=int, default=200, help="applies to measure (default: 200)")
    ap.add_argument("--region", default="aws:us-east-1")
    ap.add_argument("--timeout", type=float, default=60,
                    help="seconds per apply to be ready; a slower apply is counted as a timeout (default: 60)")
    ap.add_argument("--pause", type=float, default=0,
                    help="seconds to wait after each apply is ready before the next (default: 0, back to back)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    env = e2e_lab.env()
    clusters = [c for c in e2e_lab.clusters(env) if c.region == args.region]
    if not clusters:
        print(f"bench e2e: no lab cluster serves {args.region}", file=sys.stderr)
        return 1
    run = uuid.uuid4().hex[:6]
    # Distinct names: the controllers name Services after the CR, whatever its kind.
    redis_name, aero_name = f"bench-r-{run}", f"bench-a-{run}"
    def state(i: int) -> list:
        # Each apply changes both resources (memory cycles through 64 values, never equal
        # to the previous state), so each apply rolls both in every cluster.
        return [
            RedisDatabase(redis_name, memory_mb=64 + (i % 64)),
            AerospikeCluster(aero_name, size=1, namespaces=[
                AerospikeNamespace("bench", memory_mb=64 + (i % 64))]),
        ]

    apply_rpc, to_crs, to_ready = [], [], []
    sent: dict[int, tuple[float, float]] = {}  # version → wall clock at send and at the RPC's return
    with Client(env["SENREN_ADDR"], token=env["SENREN_TOKEN"], timeout=60) as client:
        names = [c.name for c in clusters]
        # Warm up: the resources exist and are ready before measuring.
        r = client.apply_state(args.region, state(0), message=f"bench e2e {run}: warm-up",
                               allow_mass_delete=True, allow_empty=True)
        client.wait_ready(args.region, version=r.version, timeout=args.timeout, clusters=names, progress=False)
        watches = [CrWatch(env, c, "redisdatabases", redis_name) for c in clusters]
        for w in watches:
            w.start()
        status = StatusLatency(client, args.region, {redis_name, aero_name})
        status.start()
        time.sleep(1.0)  # the watches list and start streaming
        timeouts: list[str] = []
        try:
            for i in range(1, args.n + 1):
                t0, w0 = time.monotonic(), time.time()
                r = client.apply_state(args.region, state(i), message=f"bench e2e {run}: {i}")
                t1 = time.monotonic()
                sent[r.version] = (w0, time.time())
                apply_rpc.append((t1 - t0) * 1000)
                try:
                    seen = [w.wait_version(r.version, args.timeout) for w in watches]
                    to_crs.append((max(seen) - t0) * 1000)
                    client.wait_ready(args.region, version=r.version, timeout=args.timeout,
                                      clusters=names, progress=False)
                    to_ready.append((time.monotonic() - t0) * 1000)
                except (senren.Timeout, TimeoutError) as e:
                    # Counted, not measured: the next apply starts from a clean slate.
                    timeouts.append(f"version {r.version}: {str(e).splitlines()[0]}")
                    print(f"bench e2e: apply {i} not ready in {args.timeout:g} s: {e}", file=sys.stderr)
                if args.pause > 0:
                    time.sleep(args.pause)
                if i % 20 == 0 or i == args.n:
                    print(f"bench e2e: {i}/{args.n} applies", file=sys.stderr)
        finally:
            for w in watches:
                w.stop()
            status.watch.cancel()

    metrics = {
        "apply_rpc_ms": percentiles(apply_rpc),
        "apply_to_crs_ms": percentiles(to_crs),
        "apply_to_ready_ms": percentiles(to_ready),
        "status_to_watch_ms": percentiles(status.samples),
    }
    events = {c.slug: plane_events(env["SENREN_LAB_DIR"], c, set(sent)) for c in clusters}
    hops = {f"{h}_ms": percentiles(v) for h, v in hop_samples(sent, watches, events).items()}
    result = {
        "bench": "e2e",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "region": args.region,
        "clusters": [c.name for c in clusters],
        "applies": args.n,
        "timeouts": len(timeouts),
        "timeout_s": args.timeout,
        "timed_out": timeouts[:50],
        "load_average": os.getloadavg(),
        "machine": f"{platform.node()} {os.cpu_count()} cpus",
        "sdk": senren.__version__,
        "metrics": metrics,
        "apply_to_crs_hops": hops,
        "targets_ms": {"apply_to_crs_ms": {"p50": 50, "p99": 250}, "apply_to_ready_ms": {"p50": 3000},
                       "seed_end_to_end_ms": "10000-15000"},
    }
    path = save_result(args.out, "e2e", result)

    print_table("path (ms)", metrics)
    print_table("apply_to_crs by hop", hops, missing="  (no plane log lines)")
    print(f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if timeouts:
        print(f"\n{len(timeouts)} of {args.n} applies were not ready in {args.timeout:g} s (not in the figures)")
    print(f"seed design: 10–15 s end to end; JSON: {path}")
    if status.error is not None and not isinstance(status.error, senren.Cancelled):
        print(f"bench e2e: watch_status failed: {status.error}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except senren.SenrenError as e:
        print(f"bench e2e: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    except TimeoutError as e:
        print(f"bench e2e: {e} (is senren-regional running? tools/lab status)", file=sys.stderr)
        sys.exit(1)

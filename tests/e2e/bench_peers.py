#!/usr/bin/env python3
"""Senren against Argo CD on the lab: the same change, the same clusters, the same run.

For each size N (resources of the region; default 1, 100 and 1,000), alternating round by
round between the two sides, in region aws:us-east-1 (lab clusters 0 and 1):
  Senren   apply_state of N RedisDatabases (each round changes every one of them) →
           apply_to_crs     every CR carries the new version in both clusters (namespace
                            senren; one kubectl watch per apiserver)
           apply_to_ready   wait_ready returns (every resource ready everywhere; only for
                            N <= --ready-max: at 1,000 the controllers roll 2,000 StatefulSets)
  Argo CD  the same CRs as Senren wrote them (read back from cluster 0, namespace changed to
           argocd-peer) committed to the lab's git repository and pushed, then the refresh
           annotation set on both Applications at once (what Argo CD's webhook does) →
           commit_to_crs    every CR carries the new version in both clusters (namespace
                            argocd-peer; one kubectl watch per apiserver)
           commit_to_synced both Applications Synced at the new commit, their sync operation
                            Succeeded (Argo CD's own "done")
and, said apart, a few rounds at the smallest size where Argo CD finds the commit by its
default polling (timeout.reconciliation, 120 s + jitter; no refresh annotation).
The resource cost of each side's control processes over its own rounds: CPU seconds (from
/proc/<pid>/stat) and peak RSS (VmRSS sampled every 0.5 s): Senren = senren-ledger and the
senren-regional planes of both clusters (the senren-controllers, which make the
StatefulSets behind "ready", apart); Argo CD = application controller, repo server, redis.
Writes JSON under bench/results/ (peers-<time>.json and peers.json) and prints a table.
Run it with `tools/bench peers [--sizes 1,100,1000] [--rounds 10,10,3] [--polling-rounds 3]`;
it needs the lab with Argo CD (`tools/lab up --with argocd`, or `tools/lab argocd-up`).
Resources of other writers in the region are kept in every apply; the bench's own are
removed at the end on both sides. Do not run it beside `tools/bench e2e`, whose applies
replace the region's whole state (this bench's rounds then time out).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(__file__))

import e2e_lab  # noqa: E402
from bench_e2e import percentiles, save_result  # noqa: E402

import senren  # noqa: E402
from senren import Client, RedisDatabase  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PEER_NS = "argocd-peer"
ARGOCD_NS = "argocd"
VERSION_ANN = "senren.io/state-version"
LEFTOVER = re.compile(r"^peer-[0-9a-f]{6}-[0-9]+$")


def die_with_parent() -> None:
    """In a child: SIGTERM when the bench ends, however it ends (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


class JsonWatch(threading.Thread):
    """`kubectl get --watch -o json` of one resource type in one namespace. Each event is
    reduced by `key` to (name, value) and recorded with its time; the watch is started
    again if kubectl ends (the apiserver closes watches after 30-60 min)."""

    def __init__(self, kubectl: str, kubeconfig: str, namespace: str, resource: str,
                 key: Callable[[dict], Optional[tuple[str, object]]]) -> None:
        super().__init__(daemon=True)
        self.argv = [kubectl, "--kubeconfig", kubeconfig, "-n", namespace, "get", resource,
                     "--watch", "-o", "json"]
        self.key = key
        self.events: list[tuple[float, str, object]] = []
        self.cond = threading.Condition()
        self.proc: Optional[subprocess.Popen] = None
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         text=True, bufsize=1, preexec_fn=die_with_parent)
            buf: list[str] = []
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                buf.append(line)
                if line.rstrip("\n") != "}":
                    continue
                now = time.monotonic()
                try:
                    obj = json.loads("".join(buf))
                except ValueError:
                    continue
                buf = []
                obj = obj.get("object", obj)
                kv = self.key(obj)
                if kv is None:
                    continue
                with self.cond:
                    self.events.append((now, kv[0], kv[1]))
                    self.cond.notify_all()
            self.proc.wait()
            if not self.stopped:
                time.sleep(0.5)

    def wait(self, done: Callable[[dict[str, object]], bool], since: int, timeout: float) -> float:
        """Replays the events from index `since` into a name → value map (starting from the
        values before `since`) until `done(map)` holds; returns that event's time."""
        deadline = time.monotonic() + timeout
        state: dict[str, object] = {}
        with self.cond:
            for _, name, value in self.events[:since]:
                state[name] = value
            i = since
            if done(state):
                return time.monotonic()
            while True:
                while i < len(self.events):
                    t, name, value = self.events[i]
                    state[name] = value
                    i += 1
                    if done(state):
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("not seen in time")
                self.cond.wait(min(left, 1.0))

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def stop(self) -> None:
        self.stopped = True
        if self.proc:
            self.proc.terminate()


def cr_version(obj: dict) -> Optional[tuple[str, object]]:
    md = obj.get("metadata", {})
    try:
        v = int((md.get("annotations") or {}).get(VERSION_ANN, "0"))
    except ValueError:
        v = 0
    if md.get("deletionTimestamp"):
        v = -1
    return md.get("name", ""), v


def all_at(names: set[str], version: int) -> Callable[[dict[str, object]], bool]:
    def done(state: dict[str, object]) -> bool:
        return all(isinstance(state.get(n), int) and state[n] >= version for n in names)  # type: ignore[operator]
    return done


def app_summary(obj: dict) -> Optional[tuple[str, object]]:
    st = obj.get("status", {}) or {}
    op = st.get("operationState", {}) or {}
    return obj["metadata"]["name"], (
        (st.get("sync", {}) or {}).get("status", ""), (st.get("sync", {}) or {}).get("revision", ""),
        op.get("phase", ""), ((op.get("syncResult", {}) or {}).get("revision", "")))


def apps_synced(apps: list[str], sha: str) -> Callable[[dict[str, object]], bool]:
    def done(state: dict[str, object]) -> bool:
        for a in apps:
            s = state.get(a)
            if not s or s[0] != "Synced" or s[1] != sha or s[2] != "Succeeded" or s[3] != sha:  # type: ignore[index]
                return False
        return True
    return done


class Sampler(threading.Thread):
    """CPU seconds and peak RSS of named lab processes, attributed to the side whose rounds
    run (`phase`), and over the whole run."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")
        self.phase = ""
        self.cpu: dict[str, dict[str, float]] = {}
        self.peak: dict[str, dict[str, int]] = {}
        self.total_peak: dict[str, int] = {}
        self.total: dict[str, float] = {}
        self.lock = threading.Lock()
        self.last = {p: self.cpu_s(pid) for p, pid in pids.items()}
        self.stopped = False

    def cpu_s(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return 0.0

    @staticmethod
    def rss_kb(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self) -> None:
        with self.lock:
            for p, pid in self.pids.items():
                c, r = self.cpu_s(pid), self.rss_kb(pid)
                # A process that ended (a lab part restarted) counts no more: no negative delta.
                delta = max(0.0, c - self.last[p]) if c else 0.0
                self.total[p] = self.total.get(p, 0.0) + delta
                if self.phase:
                    d = self.cpu.setdefault(self.phase, {})
                    d[p] = d.get(p, 0.0) + delta
                    pk = self.peak.setdefault(self.phase, {})
                    pk[p] = max(pk.get(p, 0), r)
                self.total_peak[p] = max(self.total_peak.get(p, 0), r)
                self.last[p] = c

    def set_phase(self, phase: str) -> None:
        self.sample()
        with self.lock:
            self.phase = phase

    def run(self) -> None:
        while not self.stopped:
            self.sample()
            time.sleep(0.5)

    def totals(self) -> dict[str, float]:
        self.sample()
        return {p: round(v, 2) for p, v in self.total.items()}


def lab_pid(lab_dir: str, part: str) -> Optional[int]:
    try:
        pid = int((Path(lab_dir) / "pids" / f"{part}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def peer_manifest(item: dict) -> dict:
    """A CR as Senren wrote it, for the namespace Argo CD syncs into."""
    md = item["metadata"]
    ann = {k: v for k, v in (md.get("annotations") or {}).items()
           if not k.startswith("kubectl.kubernetes.io/")}
    out = {"apiVersion": item["apiVersion"], "kind": item["kind"],
           "metadata": {"name": md["name"], "namespace": PEER_NS, "annotations": ann}}
    if md.get("labels"):
        out["metadata"]["labels"] = md["labels"]
    out["spec"] = item.get("spec", {})
    return out


class Git:
    def __init__(self, work: Path) -> None:
        self.work = work

    def run(self, *args: str) -> str:
        p = subprocess.run(["git", "-C", str(self.work), "-c", "user.name=senren-bench",
                            "-c", "user.email=bench@senren.invalid", *args],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout.strip()

    def write(self, docs: list[dict]) -> None:
        text = "".join("---\n" + json.dumps(d, sort_keys=True) + "\n" for d in docs)
        (self.work / "crs" / "crs.yaml").write_text(text)
        self.run("add", "-A", "crs")

    def commit_push(self, message: str) -> str:
        self.run("commit", "-q", "--allow-empty", "-m", message)
        self.run("push", "-q", "origin", "HEAD:main")
        return self.run("rev-parse", "HEAD")


def fmt_row(label: str, m: dict) -> str:
    if not m.get("n"):
        return f"{label:<40} {'-':>9} {'-':>9} {'-':>9} {0:>5}"
    return f"{label:<40} {m['p50']:>9.1f} {m['p99']:>9.1f} {m['max']:>9.1f} {m['n']:>5}"


def main() -> int:
    ap = argparse.ArgumentParser(description="Senren against Argo CD (tools/bench peers)")
    ap.add_argument("--sizes", default="1,100,1000", help="resources per region, comma separated")
    ap.add_argument("--rounds", default="10,10,3",
                    help="measured rounds per side for each size (one value for all, or one per size)")
    ap.add_argument("--polling-rounds", type=int, default=3,
                    help="rounds where Argo CD finds the commit by polling (smallest size; 0: none)")
    ap.add_argument("--ready-max", type=int, default=1000,
                    help="measure Senren's apply → ready only up to this size (default: 1000)")
    ap.add_argument("--region", default="aws:us-east-1")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per round and side")
    ap.add_argument("--polling-timeout", type=float, default=600)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rounds = [int(r) for r in args.rounds.split(",") if r]
    rounds = (rounds * len(sizes))[:len(sizes)] if len(rounds) == 1 else rounds
    if len(rounds) != len(sizes):
        print("bench peers: --rounds takes one value or one per size", file=sys.stderr)
        return 2

    # SIGTERM as Ctrl-C: the clean-up below runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = e2e_lab.env()
    lab_dir = env["SENREN_LAB_DIR"]
    kubectl = os.path.join(env.get("SENREN_KUBE_BIN", ""), "kubectl")
    clusters = [c for c in e2e_lab.clusters(env) if c.region == args.region]
    if len(clusters) != 2:
        print(f"bench peers: expected the 2 lab clusters of {args.region}", file=sys.stderr)
        return 1
    hub = e2e_lab.clusters(env)[0]
    apps = [f"peer-{c.slug}" for c in clusters]
    work = Path(lab_dir) / "argocd" / "work"
    missing = [p for p in ("argocd-application-controller", "argocd-repo-server", "argocd-redis")
               if lab_pid(lab_dir, p) is None]
    if missing or not work.is_dir():
        print(f"bench peers: Argo CD is not running ({', '.join(missing) or 'no repository'}): "
              "tools/lab argocd-up", file=sys.stderr)
        return 1
    git = Git(work)

    sides = {
        "senren": ["senren-ledger"] + [f"senren-regional-{c.slug}" for c in clusters],
        "argocd": ["argocd-application-controller", "argocd-repo-server", "argocd-redis"],
        "senren_controllers": [f"senren-controller-{c.slug}" for c in clusters],
    }
    pids = {p: pid for ps in sides.values() for p in ps if (pid := lab_pid(lab_dir, p))}
    sampler = Sampler(pids)
    sampler.start()

    run = uuid.uuid4().hex[:6]
    prefix = f"peer-{run}-"
    senren_w = [JsonWatch(kubectl, c.kubeconfig, "senren", "redisdatabases.senren.io", cr_version) for c in clusters]
    argo_w = [JsonWatch(kubectl, c.kubeconfig, PEER_NS, "redisdatabases.senren.io", cr_version) for c in clusters]
    app_w = JsonWatch(kubectl, hub.kubeconfig, ARGOCD_NS, "applications.argoproj.io", app_summary)
    for w in [*senren_w, *argo_w, app_w]:
        w.start()
    pool = ThreadPoolExecutor(max_workers=4)

    def refresh() -> None:
        # The refresh annotation on both Applications at once, as Argo CD's webhook handler sets it.
        list(pool.map(lambda a: subprocess.run(
            [kubectl, "--kubeconfig", hub.kubeconfig, "-n", ARGOCD_NS, "annotate", "--overwrite",
             f"applications.argoproj.io/{a}", "argocd.argoproj.io/refresh=normal"],
            capture_output=True, timeout=60, check=True), apps))

    raw: dict[str, dict[str, list[float]]] = {}  # size (or polling_<size>) → metric → samples
    timeouts: list[str] = []
    interrupted = False
    counter = [0]
    with Client(env["SENREN_ADDR"], token=env["SENREN_TOKEN"], timeout=120) as client:
        names_all = [c.name for c in clusters]

        def others() -> list:
            # Every writer's resources but this bench's (and those an interrupted run left).
            return [r for r in client.get_state(args.region).resources if not LEFTOVER.match(r.name)]

        def senren_round(n: int, ready: bool, measured: bool) -> tuple[int, Optional[float], Optional[float]]:
            counter[0] += 1
            names = {f"{prefix}{j}" for j in range(n)}
            state = others() + [RedisDatabase(f"{prefix}{j}", memory_mb=64 + (counter[0] % 64)) for j in range(n)]
            marks = [w.mark() for w in senren_w]
            if measured:
                sampler.set_phase("senren")
            t0 = time.monotonic()
            r = client.apply_state(args.region, state, message=f"bench peers {run}: {n} x {counter[0]}",
                                   allow_mass_delete=True, allow_empty=True)
            to_crs = to_ready = None
            try:
                seen = [w.wait(all_at(names, r.version), m, args.timeout) for w, m in zip(senren_w, marks)]
                to_crs = (max(seen) - t0) * 1000
                if ready:
                    client.wait_ready(args.region, version=r.version, timeout=args.timeout,
                                      clusters=names_all, progress=False)
                    to_ready = (time.monotonic() - t0) * 1000
            except (senren.Timeout, TimeoutError) as e:
                timeouts.append(f"senren {n}: version {r.version}: {str(e).splitlines()[0]}")
            finally:
                sampler.set_phase("")
            return r.version, to_crs, to_ready

        def argocd_round(n: int, version: int, webhook: bool, measured: bool,
                         timeout: float) -> tuple[Optional[float], Optional[float]]:
            names = {f"{prefix}{j}" for j in range(n)}
            items = json.loads(e2e_lab.kubectl(env, clusters[0], "-n", "senren", "get",
                                               "redisdatabases.senren.io", "-o", "json", timeout=120))["items"]
            docs = sorted((peer_manifest(i) for i in items if i["metadata"]["name"] in names),
                          key=lambda d: d["metadata"]["name"])
            git.write(docs)
            marks = [w.mark() for w in argo_w]
            amark = app_w.mark()
            if measured:
                sampler.set_phase("argocd_webhook" if webhook else "argocd_polling")
            t0 = time.monotonic()
            to_crs = to_synced = None
            try:
                sha = git.commit_push(f"bench peers {run}: {n} at version {version}")
                if webhook:
                    refresh()
                seen = [w.wait(all_at(names, version), m, timeout) for w, m in zip(argo_w, marks)]
                to_crs = (max(seen) - t0) * 1000
                to_synced = (app_w.wait(apps_synced(apps, sha), amark, timeout) - t0) * 1000
            except TimeoutError as e:
                timeouts.append(f"argocd {n} ({'webhook' if webhook else 'polling'}): version {version}: {e}")
            finally:
                sampler.set_phase("")
            return to_crs, to_synced

        try:
            for n, k in zip(sizes, rounds):
                ready = n <= args.ready_max
                print(f"bench peers: {n} resources: warm-up", file=sys.stderr)
                v, _, _ = senren_round(n, ready, False)
                argocd_round(n, v, True, False, args.timeout)
                res = raw[str(n)] = {"senren_apply_to_crs": [], "senren_apply_to_ready": [],
                                     "argocd_commit_to_crs": [], "argocd_commit_to_synced": []}
                for i in range(k):
                    v, a, b = senren_round(n, ready, True)
                    if a is not None:
                        res["senren_apply_to_crs"].append(a)
                    if b is not None:
                        res["senren_apply_to_ready"].append(b)
                    # Senren's controllers roll the StatefulSets meanwhile; let them finish
                    # before Argo CD's round when ready is not measured.
                    c, d = argocd_round(n, v, True, True, args.timeout)
                    if c is not None:
                        res["argocd_commit_to_crs"].append(c)
                    if d is not None:
                        res["argocd_commit_to_synced"].append(d)
                    print(f"bench peers: {n} resources: round {i + 1}/{k}: senren {a or 0:.0f} ms, "
                          f"argocd {c or 0:.0f} ms", file=sys.stderr)
            if args.polling_rounds:
                n = min(sizes)
                pol = raw[f"polling_{n}"] = {"argocd_polling_commit_to_crs": [],
                                             "argocd_polling_commit_to_synced": []}
                for i in range(args.polling_rounds):
                    v, _, _ = senren_round(n, n <= args.ready_max, False)
                    c, d = argocd_round(n, v, False, True, args.polling_timeout)
                    if c is not None:
                        pol["argocd_polling_commit_to_crs"].append(c)
                    if d is not None:
                        pol["argocd_polling_commit_to_synced"].append(d)
                    print(f"bench peers: polling round {i + 1}/{args.polling_rounds}: {c or 0:.0f} ms",
                          file=sys.stderr)
        except KeyboardInterrupt:
            # Stopped early: the rounds done so far are written, marked as interrupted.
            interrupted = True
            print("bench peers: interrupted; writing the rounds done so far", file=sys.stderr)
        finally:
            print("bench peers: removing the bench's resources on both sides", file=sys.stderr)
            try:
                client.apply_state(args.region, others(), message=f"bench peers {run}: clean-up",
                                   allow_mass_delete=True, allow_empty=True)
                git.write([])
                git.commit_push(f"bench peers {run}: clean-up")
                refresh()
            except Exception as e:  # noqa: BLE001 - reported, the figures are kept
                print(f"bench peers: clean-up failed: {e}", file=sys.stderr)
            sampler.stopped = True
            for w in [*senren_w, *argo_w, app_w]:
                w.stop()

    results = {size: {m: percentiles(v) for m, v in ms.items()} for size, ms in raw.items()}
    cost: dict[str, dict] = {}
    for phase, cpu in sampler.cpu.items():
        cost[phase] = {p: {"cpu_s": round(c, 2), "peak_rss_mib": round(sampler.peak[phase].get(p, 0) / 1024, 1)}
                       for p, c in cpu.items()}
    result = {
        "bench": "peers",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "region": args.region,
        "clusters": [c.slug for c in clusters],
        "sizes": sizes,
        "rounds": rounds,
        "polling_rounds": args.polling_rounds,
        "ready_max": args.ready_max,
        "interrupted": interrupted,
        "argocd": subprocess.run([str(ROOT / "tools/lab.d/build-argocd"), "--print-version"],
                                 capture_output=True, text=True).stdout.strip(),
        "sides": sides,
        "timeouts": timeouts[:50],
        "load_average": os.getloadavg(),
        "machine": f"{platform.node()} {os.cpu_count()} cpus",
        "metrics_ms": results,
        "cost_during_rounds": cost,
        "cpu_s_whole_run": sampler.totals(),
        "peak_rss_mib_whole_run": {p: round(v / 1024, 1) for p, v in sampler.total_peak.items()},
    }
    path = save_result(args.out, "peers", result)

    print(f"\n{'path (ms)':<40} {'p50':>9} {'p99':>9} {'max':>9} {'n':>5}")
    for size, ms in results.items():
        print(f"-- {size} resources" if not size.startswith("polling") else f"-- {size[8:]} resource(s), Argo CD polling")
        for m, v in ms.items():
            print(fmt_row(m, v))
        s, a = ms.get("senren_apply_to_crs", {}), ms.get("argocd_commit_to_crs", {})
        if s.get("n") and a.get("n"):
            print(f"{'ratio argocd/senren (to CRs)':<40} {a['p50'] / s['p50']:>9.1f} {a['p99'] / s['p99']:>9.1f}")
    print(f"\n{'cost during the rounds':<40} {'cpu s':>9} {'peak MiB':>9}")
    for phase, procs in cost.items():
        print(f"-- {phase} rounds")
        for p, c in procs.items():
            side = next((s for s, ps in sides.items() if p in ps), "")
            if (phase.startswith("argocd") and side == "argocd") or (phase == "senren" and side != "argocd"):
                print(f"{p:<40} {c['cpu_s']:>9.2f} {c['peak_rss_mib']:>9.1f}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if timeouts:
        print(f"\n{len(timeouts)} rounds timed out (not in the figures): {timeouts[:5]}")
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except senren.SenrenError as e:
        print(f"bench peers: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

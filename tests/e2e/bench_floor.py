#!/usr/bin/env python3
"""The apiservers' floor under a plane's writes (tools/bench floor).

The same writes a regional plane makes for one version of the e2e benchmark's state (the
applied-version record, a conditional ConfigMap update, then a server-side apply of one
RedisDatabase and one AerospikeCluster in parallel), made by the smallest client there is
(one kept-alive HTTPS connection per thread, no informers, no planning) against the lab's
apiservers, with the lab's controllers answering the CRs as they do for the plane. Four
variants alternate in every round, so they share the machine's load:

  1 apply, one cluster         one CR server-side apply in the region's first cluster
  2 applies, one cluster       both CRs in parallel in the first cluster
  2 applies, every cluster     both CRs in parallel in every cluster of the region at once
  record + 2 applies           the record update first, then both CRs, in every cluster at
                               once: a plane's reconcile of one version

What `tools/bench e2e` reports for reconcile_record + reconcile_crs cannot be lower than
the last variant. The CRs are named bench-floor-*, carry no senren.io/region label (the
planes leave them alone) and are deleted at the end, with the record stand-in.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import ssl
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e_lab  # noqa: E402
from bench_e2e import percentiles, print_table, save_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NS = "senren"
GROUP = "/apis/senren.io/v1alpha1/namespaces/" + NS


class Api:
    """One apiserver, one kept-alive connection per calling thread (the callers are pool
    threads that live through the run, so no request pays for a TLS handshake)."""

    def __init__(self, cluster: e2e_lab.Cluster) -> None:
        text = Path(cluster.kubeconfig).read_text()

        def field(name: str) -> str:
            m = re.search(rf"^\s*{name}:\s*(\S+)\s*$", text, re.M)
            if not m:
                raise RuntimeError(f"{cluster.kubeconfig}: no {name}")
            return m.group(1)

        server = field("server")
        m = re.match(r"https://([^:/]+):(\d+)$", server)
        if not m:
            raise RuntimeError(f"{cluster.kubeconfig}: server {server} is not https://HOST:PORT")
        self.host, self.port = m.group(1), int(m.group(2))
        self.token = field("token")
        self.ctx = ssl.create_default_context(cafile=field("certificate-authority"))
        self.local = threading.local()
        self.name = cluster.name

    def connection(self) -> http.client.HTTPSConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx)
            conn.connect()
        return conn

    def call(self, method: str, path: str, body: dict | None = None,
             content_type: str = "application/json") -> tuple[float, dict]:
        data = None if body is None else json.dumps(body)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": content_type,
                   "Accept": "application/json"}
        for attempt in (1, 2):
            conn = self.connection()
            t = time.perf_counter()
            try:
                conn.request(method, path, body=data, headers=headers)
                r = conn.getresponse()
                reply = r.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                # The apiserver closed the kept-alive connection: one new one, once.
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
                continue
            ms = (time.perf_counter() - t) * 1000
            if r.status >= 300:
                raise RuntimeError(f"{self.name}: {method} {path}: HTTP {r.status}: {reply[:300]!r}")
            return ms, json.loads(reply)
        raise AssertionError("unreachable")


def redis(name: str, i: int) -> dict:
    return {"apiVersion": "senren.io/v1alpha1", "kind": "RedisDatabase", "metadata": {"name": name},
            "spec": {"memoryMb": 64 + i % 64, "replicas": 1, "version": "7.2", "persistence": "none"}}


def aerospike(name: str, i: int) -> dict:
    return {"apiVersion": "senren.io/v1alpha1", "kind": "AerospikeCluster", "metadata": {"name": name},
            "spec": {"size": 1, "namespaces": [{"name": "bench", "memoryMb": 64 + i % 64,
                                                "replicationFactor": 1}]}}


class Writer:
    """A plane's writes for one cluster: the record stand-in and the two CRs."""

    def __init__(self, api: Api, run: str) -> None:
        self.api = api
        self.redis, self.aero, self.record = f"bench-floor-r-{run}", f"bench-floor-a-{run}", f"bench-floor-{run}"
        self.record_obj: dict = {}

    def apply(self, plural: str, obj: dict) -> float:
        path = f"{GROUP}/{plural}/{obj['metadata']['name']}?fieldManager=bench-floor&force=true"
        return self.api.call("PATCH", path, obj, "application/apply-patch+yaml")[0]

    def create(self) -> None:
        self.apply("redisdatabases", redis(self.redis, 0))
        self.apply("aerospikeclusters", aerospike(self.aero, 0))
        _, self.record_obj = self.api.call("POST", f"/api/v1/namespaces/{NS}/configmaps",
                                           {"metadata": {"name": self.record}, "data": {"version": "0"}})

    def update_record(self, i: int) -> float:
        # Conditional, like the plane's: the body carries the resourceVersion last seen.
        self.record_obj["data"] = {"version": str(i)}
        ms, self.record_obj = self.api.call(
            "PUT", f"/api/v1/namespaces/{NS}/configmaps/{self.record}", self.record_obj)
        return ms

    def write(self, i: int, both: bool, pool: ThreadPoolExecutor) -> None:
        other = pool.submit(self.apply, "aerospikeclusters", aerospike(self.aero, i)) if both else None
        self.apply("redisdatabases", redis(self.redis, i))
        if other is not None:
            other.result()

    def delete(self) -> None:
        for path in (f"{GROUP}/redisdatabases/{self.redis}", f"{GROUP}/aerospikeclusters/{self.aero}",
                     f"/api/v1/namespaces/{NS}/configmaps/{self.record}"):
            try:
                self.api.call("DELETE", path)
            except RuntimeError as e:
                print(f"bench floor: cleanup: {e}", file=sys.stderr)


VARIANTS = ["1_apply_one_cluster", "2_applies_one_cluster", "2_applies_every_cluster", "record_then_2_applies"]


class Runner:
    """Runs one version's writes of a variant on long-lived threads: one per cluster, and
    one more per cluster for the second CR, like the plane's apply workers."""

    def __init__(self, writers: list[Writer]) -> None:
        self.writers = writers
        self.clusters = ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="cluster")
        self.applies = ThreadPoolExecutor(max_workers=len(writers), thread_name_prefix="apply")
        # Every thread opens its connection to every apiserver before anything is timed:
        # the barrier holds each thread until all have taken one of these tasks.
        for pool in (self.clusters, self.applies):
            barrier = threading.Barrier(len(writers))

            def connect() -> None:
                for w in writers:
                    w.api.connection()
                barrier.wait(timeout=30)

            for f in [pool.submit(connect) for _ in writers]:
                f.result()

    def one(self, variant: str, i: int) -> float:
        """One version's writes, timed from the first request to the last reply."""
        writers = self.writers[:1] if variant.endswith("one_cluster") else self.writers
        both = not variant.startswith("1_")
        record = variant == "record_then_2_applies"

        def cluster(w: Writer) -> None:
            if record:
                w.update_record(i)
            w.write(i, both, self.applies)

        t = time.perf_counter()
        for f in [self.clusters.submit(cluster, w) for w in writers]:
            f.result()
        return (time.perf_counter() - t) * 1000

    def close(self) -> None:
        self.clusters.shutdown()
        self.applies.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description="The apiservers' floor under a plane's writes (tools/bench floor)")
    ap.add_argument("--n", type=int, default=25, help="versions per variant and round (default: 25)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, each running every variant (default: 2)")
    ap.add_argument("--pause", type=float, default=1.5,
                    help="seconds between versions, for the controllers to answer (default: 1.5)")
    ap.add_argument("--region", default="aws:us-east-1")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()

    env = e2e_lab.env()
    clusters = [c for c in e2e_lab.clusters(env) if c.region == args.region]
    if not clusters:
        print(f"bench floor: no lab cluster serves {args.region}", file=sys.stderr)
        return 1
    run = uuid.uuid4().hex[:6]
    writers = [Writer(Api(c), run) for c in clusters]
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    load_before = os.getloadavg()
    runner = Runner(writers)
    try:
        for w in writers:
            w.create()
        time.sleep(3)  # the controllers create what the new CRs ask for
        i = 0
        for v in VARIANTS:  # a first version of each, not timed
            for _ in range(2):
                i += 1
                runner.one(v, i)
        for r in range(args.rounds):
            for v in VARIANTS:
                for _ in range(args.n):
                    i += 1
                    samples[v].append(runner.one(v, i))
                    time.sleep(args.pause)
            print(f"bench floor: round {r + 1}/{args.rounds}", file=sys.stderr)
    finally:
        runner.close()
        for w in writers:
            w.delete()

    metrics = {f"{v}_ms": percentiles(s) for v, s in samples.items()}
    result = {
        "bench": "floor",
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "region": args.region,
        "clusters": [c.name for c in clusters],
        "rounds": args.rounds,
        "pause_s": args.pause,
        "load_average_before": load_before,
        "load_average": os.getloadavg(),
        "machine": f"{platform.node()} {os.cpu_count()} cpus",
        "metrics": metrics,
    }
    path = save_result(args.out, "floor", result)
    print_table("one version's writes (ms)", metrics)
    print(f"a minimal client writing what a plane writes, in {args.region} ({', '.join(c.name for c in clusters)})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in load_before)} before, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fault injection on the lab with an invariant checker (docs/reliability.md).

A workload applies adds, changes, removals and rollbacks to the lab's regions through the
ledger API while faults hit the lab at random moments (seeded); watchers record every
change of Senren's CRs and of the objects in namespace ``senren`` in every cluster. After
each round the faults stop and every cluster must converge to its region's head version;
at the end the record is checked against the ledger's history (chaos_check.py). Run by
``tools/chaos``; ``tools/chaos --help`` lists the flags.

Only resources named ``chaos-…`` are written; the rest of each region's state is read
first and applied unchanged, so the quickstart's resources (and anyone else's) stay.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import faulthandler
import hashlib
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

import chaos_check as check  # noqa: E402
import e2e_lab  # noqa: E402
import senren  # noqa: E402
from senren import AerospikeCluster, AerospikeNamespace, RedisDatabase  # noqa: E402

PREFIX = "chaos-"
NAMESPACE = "senren"
FOREIGN = "chaos-foreign"  # never a workload name: chaos-r<N> and chaos-a<N> are
MAX_CHAOS_PER_REGION = 4
MEMORY_MB = (64, 96, 128, 192, 256)

KIND_PATHS = {
    "RedisDatabase": f"/apis/senren.io/v1alpha1/namespaces/{NAMESPACE}/redisdatabases",
    "AerospikeCluster": f"/apis/senren.io/v1alpha1/namespaces/{NAMESPACE}/aerospikeclusters",
    "StatefulSet": f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets",
    "Service": f"/api/v1/namespaces/{NAMESPACE}/services",
    "ConfigMap": f"/api/v1/namespaces/{NAMESPACE}/configmaps",
    "PodDisruptionBudget": f"/apis/policy/v1/namespaces/{NAMESPACE}/poddisruptionbudgets",
}

# Faults that touch only Senren's daemons (cheap: a restart takes under a second) and the
# lab's infrastructure (a restart goes through `tools/lab up` and takes 10-30 s).
DAEMON_FAULTS = ("ledger-kill", "regional-kill", "regional-kill-nocache", "controller-kill", "second-regional")
INFRA_FAULTS = ("kafka-restart", "postgres-restart", "apiserver-restart")
ALL_FAULTS = DAEMON_FAULTS + INFRA_FAULTS


def log(msg: str) -> None:
    print(f"chaos {dt.datetime.now(dt.timezone.utc):%H:%M:%S}: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Kubernetes REST


class Kube:
    """The REST API of one lab cluster, with the kubeconfig's token and CA."""

    def __init__(self, cluster: e2e_lab.Cluster) -> None:
        fields: dict[str, str] = {}
        for line in Path(cluster.kubeconfig).read_text().splitlines():
            key, _, value = line.strip().partition(": ")
            if key in ("server", "certificate-authority", "token") and key not in fields:
                fields[key] = value.strip()
        self.server = fields["server"]
        self.token = fields["token"]
        self.ctx = ssl.create_default_context(cafile=fields["certificate-authority"])

    def open(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 15):
        req = urllib.request.Request(
            self.server + path, method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                     "Content-Type": "application/json"})
        return urllib.request.urlopen(req, context=self.ctx, timeout=timeout)

    def call(self, method: str, path: str, body: Optional[dict] = None) -> dict:
        with self.open(method, path, body) as r:
            return json.loads(r.read() or b"{}")

    def get(self, path: str) -> Optional[dict]:
        try:
            return self.call("GET", path)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise


def fingerprint(kind: str, obj: dict) -> str:
    """What must not change on an object Senren does not own. A CR's status is the
    controller's to write (it reports a conflict there), so for a CR only its identity,
    generation, labels, annotations and spec count; any other object must keep its
    resourceVersion, except a PodDisruptionBudget, whose status the lab's disruption
    controller writes: its identity, labels, annotations, owners and spec count."""
    md = obj.get("metadata", {})
    if kind == "PodDisruptionBudget":
        body = json.dumps({"labels": md.get("labels"), "annotations": md.get("annotations"),
                           "owners": md.get("ownerReferences"), "spec": obj.get("spec")}, sort_keys=True)
        return f"uid={md.get('uid', '')[:8]} meta+spec={hashlib.sha1(body.encode()).hexdigest()[:10]}"
    if kind in check.CR_KINDS:
        body = json.dumps({"uid": md.get("uid"), "labels": md.get("labels"), "annotations": md.get("annotations"),
                           "spec": obj.get("spec")}, sort_keys=True)
        return f"uid={md.get('uid', '')[:8]} gen={md.get('generation')} meta+spec={hashlib.sha1(body.encode()).hexdigest()[:10]}"
    return f"uid={md.get('uid', '')[:8]} rv={md.get('resourceVersion')}"


def to_event(t: float, cluster: str, kind: str, typ: str, obj: dict) -> check.Event:
    md = obj.get("metadata", {})
    labels, ann = md.get("labels") or {}, md.get("annotations") or {}
    try:
        sv = int(ann.get("senren.io/state-version", "0") or 0)
    except ValueError:
        sv = 0
    return check.Event(t=t, cluster=cluster, kind=kind, name=md.get("name", ""), type=typ, uid=md.get("uid", ""),
                       resource_version=md.get("resourceVersion", ""), state_version=sv,
                       managed=labels.get("app.kubernetes.io/managed-by") == "senren",
                       region=ann.get("senren.io/region", ""),
                       owners=tuple(o.get("uid", "") for o in md.get("ownerReferences") or []),
                       fingerprint=fingerprint(kind, obj))


class Recorder:
    """Watches every kind of KIND_PATHS in every cluster and records each change.

    One thread per cluster and kind: list, then watch from the list's resourceVersion
    (bookmarks on); a broken stream (apiserver restart) is watched again from the last
    resourceVersion seen, and on 410 Gone the kind is listed again and the difference to
    what was known is recorded as the events the stream missed.
    """

    def __init__(self, clusters: list[e2e_lab.Cluster]) -> None:
        self.events: list[check.Event] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.synced: set[tuple[str, str]] = set()
        self.reconnects = 0
        self.threads = [threading.Thread(target=self._run, args=(c, k), daemon=True, name=f"watch-{c.slug}-{k}")
                        for c in clusters for k in KIND_PATHS]

    def start(self, timeout: float = 60) -> None:
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + timeout
        while len(self.synced) < len(self.threads):
            if time.monotonic() > deadline:
                raise RuntimeError(f"watches not listed after {timeout:g} s: {len(self.synced)}/{len(self.threads)}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)

    def _emit(self, cluster: str, kind: str, typ: str, obj: dict) -> None:
        e = to_event(time.time(), cluster, kind, typ, obj)
        with self.lock:
            self.events.append(e)

    def _run(self, cluster: e2e_lab.Cluster, kind: str) -> None:
        kube, path = Kube(cluster), KIND_PATHS[kind]
        known: dict[str, dict] = {}
        rv: Optional[str] = None
        while not self.stopping.is_set():
            try:
                if rv is None:
                    rv = self._relist(kube, cluster.slug, kind, path, known)
                    self.synced.add((cluster.slug, kind))
                url = f"{path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=15&resourceVersion={rv}"
                with kube.open("GET", url, timeout=30) as stream:
                    for line in stream:
                        if self.stopping.is_set():
                            return
                        ev = json.loads(line)
                        typ, obj = ev.get("type"), ev.get("object", {})
                        if typ == "BOOKMARK":
                            rv = obj["metadata"]["resourceVersion"]
                            continue
                        if typ == "ERROR":
                            if obj.get("code") == 410:
                                rv = None
                            break
                        name = obj["metadata"]["name"]
                        self._emit(cluster.slug, kind, typ, obj)
                        if typ == "DELETED":
                            known.pop(name, None)
                        else:
                            known[name] = obj
                        rv = obj["metadata"]["resourceVersion"]
            except urllib.error.HTTPError as e:
                if e.code == 410:
                    rv = None
                self.reconnects += 1
                time.sleep(0.5)
            except (OSError, ValueError, KeyError):
                self.reconnects += 1
                time.sleep(0.5)

    def _relist(self, kube: Kube, cluster: str, kind: str, path: str, known: dict[str, dict]) -> str:
        lst = kube.call("GET", path)
        names = set()
        for obj in lst.get("items", []):
            md = obj["metadata"]
            names.add(md["name"])
            old = known.get(md["name"])
            if old is not None and old["metadata"]["uid"] != md["uid"]:
                self._emit(cluster, kind, "DELETED", old)
                old = None
            if old is None:
                self._emit(cluster, kind, "ADDED", obj)
            elif old["metadata"]["resourceVersion"] != md["resourceVersion"]:
                self._emit(cluster, kind, "MODIFIED", obj)
            known[md["name"]] = obj
        for name in [n for n in known if n not in names]:
            self._emit(cluster, kind, "DELETED", known.pop(name))
        return lst["metadata"]["resourceVersion"]


# ---------------------------------------------------------------- foreign objects


def region_label(region: str) -> str:
    return region.replace(":", ".")


def foreign_objects(region: str) -> list[tuple[str, str, dict]]:
    """(kind, name, body): objects named like Senren's that Senren must leave alone — a
    Service, a ConfigMap and a PodDisruptionBudget named like the children of a CR
    ``chaos-foreign``, and that CR itself, with the region's label and annotation but
    without the managed-by label."""
    return [
        ("Service", f"redis-{FOREIGN}", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"redis-{FOREIGN}"},
            "spec": {"ports": [{"name": "redis", "port": 6379}], "selector": {"app": "not-senren"}}}),
        ("ConfigMap", f"aerospike-{FOREIGN}-conf", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"aerospike-{FOREIGN}-conf"},
            "data": {"aerospike.conf": "# not Senren's\n"}}),
        ("PodDisruptionBudget", f"redis-{FOREIGN}", {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": f"redis-{FOREIGN}"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "not-senren"}}}}),
        ("RedisDatabase", FOREIGN, {
            "apiVersion": "senren.io/v1alpha1", "kind": "RedisDatabase",
            "metadata": {"name": FOREIGN, "labels": {"senren.io/region": region_label(region)},
                         "annotations": {"senren.io/region": region}},
            "spec": {"memoryMb": 64, "replicas": 1}}),
    ]


def create_foreign(kube: Kube, region: str) -> None:
    for kind, name, body in foreign_objects(region):
        path = KIND_PATHS[kind]
        if kube.get(f"{path}/{name}") is not None:  # left by an interrupted run
            delete_foreign_one(kube, kind, name)
        kube.call("POST", path, body)


def delete_foreign_one(kube: Kube, kind: str, name: str) -> None:
    path = f"{KIND_PATHS[kind]}/{name}"
    try:
        kube.call("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    deadline = time.monotonic() + 60
    while kube.get(path) is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def foreign_prints(kubes: dict[str, Kube], regions: dict[str, str]) -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {}
    for slug, kube in kubes.items():
        for kind, name, _ in foreign_objects(regions[slug]):
            obj = kube.get(f"{KIND_PATHS[kind]}/{name}")
            out[f"{slug}/{kind}/{name}"] = fingerprint(kind, obj) if obj else None
    return out


# ---------------------------------------------------------------- workload


@dataclasses.dataclass
class Applied:
    region: str
    version: int
    op: str
    refs: frozenset[str]
    t: float


class Workload:
    """Adds, changes, removes and rolls back ``chaos-`` resources in the lab's regions.

    Each step reads the region's head state, changes only its chaos resources and applies
    the complete state with ``expected_version`` = the head read, so whatever else the
    region holds is kept even when someone else applies at the same time (a Conflict is
    counted and the step dropped). A rollback goes only to a recent version whose other
    resources equal the head's.
    """

    def __init__(self, client: senren.Client, regions: list[str], rng: random.Random, pause_s: tuple[float, float]):
        self.client, self.regions, self.rng, self.pause_s = client, regions, rng, pause_s
        self.applied: list[Applied] = []
        self.ops: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.running = threading.Event()
        self.step_lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="workload")

    def start(self) -> None:
        self.thread.start()

    def resume(self) -> None:
        self.running.set()

    def pause(self) -> None:
        """Stops after the step in flight (if any) and returns when it is done."""
        self.running.clear()
        with self.step_lock:
            pass

    def stop(self) -> None:
        self.stopping.set()
        self.running.clear()
        self.thread.join(timeout=120)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            if not self.running.wait(timeout=0.5):
                continue
            with self.step_lock:
                if not self.running.is_set() or self.stopping.is_set():
                    continue
                try:
                    self.step()
                except senren.Conflict:
                    self.errors["conflict"] += 1
                except senren.SenrenError as e:
                    self.errors[type(e).__name__] += 1
                except Exception as e:  # noqa: BLE001 - counted and shown; the run goes on
                    self.errors[type(e).__name__] += 1
                    log(f"workload: {type(e).__name__}: {e}")
            self.stopping.wait(self.rng.uniform(*self.pause_s))

    def step(self) -> None:
        region = self.rng.choice(self.regions)
        op = self.rng.choices(("add", "change", "remove", "rollback"), weights=(3, 3, 2, 1))[0]
        head = self.client.get_state(region)
        others = [r for r in head.resources if not r.name.startswith(PREFIX)]
        mine = {r.ref: r for r in head.resources if r.name.startswith(PREFIX)}
        if op == "rollback":
            if self._rollback(region, head, others, mine):
                return
            op = "add"
        if op == "add" and len(mine) >= MAX_CHAOS_PER_REGION:
            op = "change"
        if op in ("change", "remove") and not mine:
            op = "add"
        if op == "add":
            r = self._new(mine)
            mine[r.ref] = r
        elif op == "change":
            ref = self.rng.choice(sorted(mine))
            mine[ref] = self._changed(mine[ref])
        else:
            del mine[self.rng.choice(sorted(mine))]
        state = others + sorted(mine.values(), key=lambda r: r.ref)
        res = self.client.apply_state(region, state, message=f"chaos: {op}", expected_version=head.version,
                                      allow_empty=not state, allow_mass_delete=True)
        self.ops[op] += 1
        if res.changed:
            self.applied.append(Applied(region, res.version, op, frozenset(r.ref for r in state), time.time()))

    def _rollback(self, region: str, head: senren.State, others: list, mine: dict) -> bool:
        for v in self.client.history(region, limit=8)[1:]:
            old = self.client.get_state(region, v.version)
            old_others = [r for r in old.resources if not r.name.startswith(PREFIX)]
            old_mine = {r.ref: r for r in old.resources if r.name.startswith(PREFIX)}
            if old_others == others and old_mine != mine:
                res = self.client.rollback(region, v.version, message="chaos: rollback",
                                           expected_version=head.version, allow_empty=not old.resources,
                                           allow_mass_delete=True)
                self.ops["rollback"] += 1
                if res.changed:
                    self.applied.append(Applied(region, res.version, "rollback",
                                                frozenset(r.ref for r in old.resources), time.time()))
                return True
        return False

    def _new(self, mine: dict) -> Any:
        redis = self.rng.random() < 0.6
        for i in range(MAX_CHAOS_PER_REGION * 2):
            name = f"{PREFIX}{'r' if redis else 'a'}{i}"
            ref = f"{'RedisDatabase' if redis else 'AerospikeCluster'}/{name}"
            if ref not in mine:
                break
        mem = self.rng.choice(MEMORY_MB)
        if redis:
            return RedisDatabase(name, memory_mb=mem, replicas=1)
        return AerospikeCluster(name, size=1, namespaces=[AerospikeNamespace("data", memory_mb=mem)])

    def _changed(self, r: Any) -> Any:
        if isinstance(r, RedisDatabase):
            mem = self.rng.choice([m for m in MEMORY_MB if m != r.memory_mb])
            return dataclasses.replace(r, memory_mb=mem)
        ns = r.namespaces[0]
        mem = self.rng.choice([m for m in MEMORY_MB if m != ns.memory_mb])
        return dataclasses.replace(r, namespaces=[dataclasses.replace(ns, memory_mb=mem), *r.namespaces[1:]])


# ---------------------------------------------------------------- faults


@dataclasses.dataclass
class Fault:
    kind: str
    target: str
    start: float
    end: float = 0.0
    down_s: float = 0.0
    note: str = ""


class Lab:
    """Stops, kills and restarts lab parts; always puts every part back."""

    def __init__(self, env: dict[str, str], chaos_dir: Path) -> None:
        self.env, self.dir = env, chaos_dir
        self.second: Optional[subprocess.Popen] = None
        self.seen: dict[str, e2e_lab.Stopped] = {}  # command lines of Senren's daemons, by part
        self.parts: list[str] = []

    def remember_daemons(self) -> None:
        """Records how each running Senren daemon was started (once per part). A daemon a
        fault takes down with it (a plane that cannot renew its Lease while its apiserver
        restarts exits, by design) is started again from this record when `tools/lab up`
        cannot start it."""
        for f in (Path(self.env["SENREN_LAB_DIR"]) / "pids").glob("senren-*.pid"):
            part = f.stem
            pid = e2e_lab.pid_of(self.env, part)
            if pid is None:
                continue
            proc = Path(f"/proc/{pid}")
            if part in self.seen:
                continue  # the first record is one that ran; a later pid may be a start that fails
            try:
                fields = f.read_text().split(maxsplit=1)
                env_items = [kv.split("=", 1) for kv in (proc / "environ").read_bytes().decode().split("\0") if "=" in kv]
                self.seen[part] = e2e_lab.Stopped(
                    part=part, pid_line_match=fields[1].strip() if len(fields) > 1 else "",
                    argv=[a for a in (proc / "cmdline").read_bytes().decode().split("\0") if a],
                    cwd=os.readlink(proc / "cwd"), environ=dict(env_items), log=os.readlink(proc / "fd" / "1"))
            except (OSError, IndexError):
                continue

    def not_up(self) -> list[str]:
        """Parts without a live process. (A part whose process runs but whose health
        check fails is the lab's to judge, not a part this suite left down.) The parts are
        those `tools/lab status` listed at the start; their pids are read from the lab's
        records (status itself takes seconds)."""
        if not self.parts:
            st = e2e_lab.status()
            self.parts = [n for n, p in st.parts.items() if p.health != "not built"]
        return [f"{n} (down)" for n in self.parts if e2e_lab.pid_of(self.env, n) is None]

    def lab_up(self) -> None:
        # Tried twice: it fails for reasons of its own now and then (another apt-get
        # holding dpkg's lock while install-deps runs).
        for attempt in range(2):
            p = subprocess.run([str(e2e_lab.LAB), "up", "--no-quickstart", "--no-build"],
                               capture_output=True, text=True, timeout=600)
            if p.returncode == 0:
                # A daemon it started that exits at once (it refuses a flag, say) keeps a
                # live pid for a moment: let it go before anyone asks what is down.
                time.sleep(3)
                return
            if attempt == 0:
                time.sleep(5)
        raise RuntimeError(f"tools/lab up --no-quickstart --no-build failed:\n{p.stderr[-3000:]}")

    def ensure_up(self) -> list[str]:
        """Starts whatever lab part is down; returns the parts still down after that."""
        down = self.not_up()
        if not down:
            return down
        log(f"lab parts down: {', '.join(down)}; tools/lab up --no-quickstart --no-build")
        self.save_logs([d.split(" ")[0] for d in down])
        try:
            self.lab_up()
        except RuntimeError as e:
            log(str(e).splitlines()[0])
        for _ in range(3):
            # A daemon the lab started that exits at once (it refuses a flag, say) is
            # still alive for a moment after its pid was recorded.
            time.sleep(3)
            down = self.not_up()
            again = [d.split(" ")[0] for d in down if d.split(" ")[0] in self.seen]
            if not again:
                break
            log(f"starting {', '.join(again)} again with the command line it last ran with")
            for part in again:
                self.start_detached(self.seen[part])
        return self.not_up()

    def save_logs(self, parts: list[str]) -> None:
        """Copies the logs of daemons found dead into the chaos dir: starting a part
        moves its log to <log>.1, so two starts would lose why it died."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%H%M%S")
        for part in parts:
            s = self.seen.get(part)
            if s is None:
                continue
            out = self.dir / "died"
            out.mkdir(exist_ok=True)
            for suffix in ("", ".1"):
                src = Path(s.log + suffix)
                if src.exists():
                    shutil.copyfile(src, out / f"{stamp}-{part}.log{suffix}")

    def kill_daemon(self, part: str, down_s: float, before_start: Optional[Callable[[list[str]], None]] = None) -> None:
        """kill -9 of a daemon, `down_s` seconds down, then the same command line again."""
        stopped = e2e_lab.stop(self.env, part, sig=signal.SIGKILL)
        time.sleep(down_s)
        if before_start:
            before_start(stopped.argv)
        self.start_detached(stopped)

    def start_detached(self, s: e2e_lab.Stopped) -> int:
        """Starts a stopped part again as the lab does (own session, output appended to its
        log, pid recorded), but detached from this process: a child of ours killed by a
        later fault would stay a zombie, and a stop waiting for it to vanish would hang."""
        script = 'cd "$1" && log=$2 && shift 2 && { setsid "$@" >>"$log" 2>&1 </dev/null & echo $!; }'
        out = subprocess.run(["sh", "-c", script, "sh", s.cwd, s.log, *s.argv], env=s.environ,
                             capture_output=True, text=True, check=True, timeout=30)
        pid = int(out.stdout.strip())
        pid_file = Path(self.env["SENREN_LAB_DIR"]) / "pids" / f"{s.part}.pid"
        pid_file.write_text(f"{pid} {s.pid_line_match}".rstrip() + "\n")
        return pid

    def kill_infra(self, part: str, sig: int, down_s: float) -> None:
        pid = e2e_lab.pid_of(self.env, part)
        if pid is None:
            raise RuntimeError(f"lab part {part} is not running")
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(down_s)
        dead = [p for p in self.seen if e2e_lab.pid_of(self.env, p) is None]
        self.save_logs(dead)
        self.lab_up()

    def start_second(self, slug: str) -> Path:
        """A second senren-regional for the cluster: the lab plane's flags and Lease, its
        own identity (the default one holds its pid) and its own data dir (another host)."""
        pid = e2e_lab.pid_of(self.env, f"senren-regional-{slug}")
        if pid is None:
            raise RuntimeError(f"senren-regional-{slug} is not running")
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") if a]
        data = self.dir / f"second-regional-{slug}"
        shutil.rmtree(data, ignore_errors=True)
        argv[argv.index("--data-dir") + 1] = str(data)
        if "--metrics-listen" in argv:  # the lab plane's port: this one serves none
            i = argv.index("--metrics-listen")
            del argv[i:i + 2]
        logf = self.dir / f"second-regional-{slug}.log"
        with open(logf, "ab") as out:
            self.second = subprocess.Popen(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
        return logf

    def stop_second(self) -> None:
        if self.second is None:
            return
        self.second.send_signal(signal.SIGTERM)
        try:
            self.second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.second.kill()
            self.second.wait()
        self.second = None


def pick_fault(rng: random.Random, kinds: list[str], infra_share: float) -> str:
    daemon = [k for k in kinds if k in DAEMON_FAULTS]
    infra = [k for k in kinds if k in INFRA_FAULTS]
    if daemon and infra:
        return rng.choice(infra if rng.random() < infra_share else daemon)
    return rng.choice(kinds)


def run_fault(lab: Lab, kind: str, rng: random.Random, clusters: list[e2e_lab.Cluster]) -> Fault:
    c = rng.choice(clusters)
    down = round(rng.uniform(0.5, 5.0), 2)
    f = Fault(kind, "", time.time(), down_s=down)
    if kind == "ledger-kill":
        f.target = "senren-ledger"
        lab.kill_daemon(f.target, down)
    elif kind in ("regional-kill", "regional-kill-nocache"):
        f.target = f"senren-regional-{c.slug}"

        def drop_cache(argv: list[str]) -> None:
            cache = Path(argv[argv.index("--data-dir") + 1]) / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            f.note = f"removed {cache}"

        lab.kill_daemon(f.target, down, drop_cache if kind.endswith("nocache") else None)
    elif kind == "controller-kill":
        f.target = f"senren-controller-{c.slug}"
        lab.kill_daemon(f.target, down)
    elif kind == "second-regional":
        # Half of the time the lab's plane is killed while the second one runs, so the
        # second takes the Lease and writes (from its own, empty cache) until it is stopped
        # and the restarted lab plane takes over again.
        handover = rng.random() < 0.5
        f.target = f"senren-regional-{c.slug} (second)"
        f.down_s = round(rng.uniform(25, 35) if handover else rng.uniform(10, 20), 1)
        f.note = f"log {lab.start_second(c.slug)}"
        if handover:
            time.sleep(2)
            lab.kill_daemon(f"senren-regional-{c.slug}", down)
            f.note += f"; lab plane killed -9 while it ran, down {down} s"
            time.sleep(max(0.0, f.down_s - 2 - down))
        else:
            time.sleep(f.down_s)
        lab.stop_second()
    elif kind == "kafka-restart":
        f.target = "kafka"
        lab.kill_infra("kafka", signal.SIGKILL, down)
    elif kind == "postgres-restart":
        # The postmaster's fast shutdown (SIGINT): a kill -9 leaves its backends holding
        # the shared memory, and the lab's start would wait for them.
        f.target = "postgres"
        lab.kill_infra("postgres", signal.SIGINT, down)
    elif kind == "apiserver-restart":
        f.target = f"{c.slug}-kube-apiserver"
        lab.kill_infra(f.target, signal.SIGKILL, down)
    else:
        raise ValueError(f"unknown fault {kind}")
    f.end = time.time()
    return f


# ---------------------------------------------------------------- convergence


def expected_spec(r: Any) -> dict:
    """The fields of a CR's spec the workload sets, from the ledger's resource."""
    if isinstance(r, RedisDatabase):
        return {"memoryMb": r.memory_mb, "replicas": r.replicas}
    return {"size": r.size, "namespaces": sorted((n.name, n.memory_mb) for n in r.namespaces)}


def actual_spec(kind: str, spec: dict) -> dict:
    if kind == "RedisDatabase":
        return {"memoryMb": spec.get("memoryMb"), "replicas": spec.get("replicas", 1)}
    return {"size": spec.get("size"),
            "namespaces": sorted((n.get("name"), n.get("memoryMb")) for n in spec.get("namespaces", []))}


def cluster_lag(client: senren.Client, kube: Kube, cluster: e2e_lab.Cluster) -> str:
    """Why the cluster has not converged to its region's head ("" when it has): the
    cluster reports the head as applied, and its managed CRs of the region are exactly
    the head's resources with their specs."""
    head = client.get_state(cluster.region)
    st = client.get_status(cluster.region).cluster(cluster.name)
    if st is None or st.applied_version != head.version:
        return f"applied v{st.applied_version if st else '-'}, head v{head.version}"
    want = {r.ref: expected_spec(r) for r in head.resources}
    have = {}
    for kind in check.CR_KINDS:
        for obj in kube.call("GET", KIND_PATHS[kind]).get("items", []):
            md = obj["metadata"]
            if (md.get("labels") or {}).get("app.kubernetes.io/managed-by") != "senren":
                continue
            if (md.get("annotations") or {}).get("senren.io/region") != cluster.region:
                continue
            have[f"{kind}/{md['name']}"] = actual_spec(kind, obj.get("spec", {}))
    if want != have:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        differ = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        return f"v{head.version}: CRs missing {missing}, extra {extra}, spec differs {differ}"
    return ""


def wait_converged(client: senren.Client, kubes: dict[str, Kube], clusters: list[e2e_lab.Cluster],
                   since: float, timeout: float) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds from `since` until each cluster converged; the clusters that did not, with why."""
    done: dict[str, float] = {}
    why: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(clusters) and time.monotonic() < deadline:
        for c in clusters:
            if c.slug in done:
                continue
            try:
                lag = cluster_lag(client, kubes[c.slug], c)
            except (senren.SenrenError, OSError, ValueError) as e:
                lag = f"{type(e).__name__}: {e}"
            if lag:
                why[c.slug] = lag
            else:
                done[c.slug] = round(time.time() - since, 2)
                why.pop(c.slug, None)
        time.sleep(0.5)
    return done, why


# ---------------------------------------------------------------- history


def ledger_history(client: senren.Client, region: str, since: int) -> list[check.LedgerVersion]:
    out = []
    for v in client.history(region, limit=None):
        if v.version < since:
            continue
        st = client.get_state(region, v.version)
        out.append(check.LedgerVersion(v.version, v.time.timestamp() if v.time else 0.0,
                                       frozenset(r.ref for r in st.resources)))
    return sorted(out, key=lambda v: v.version)


# ---------------------------------------------------------------- report


def table(report: dict) -> str:
    conv = report["converge_s"]
    fmt = lambda x: "-" if x is None else f"{x:.1f} s"  # noqa: E731
    rows = [
        ("seed", report["seed"]),
        ("rounds", f"{report['rounds']} of {report['rounds_asked']}"),
        ("applies (versions written)", f"{report['applies']} ({report['versions_written']})"),
        ("apply errors", ", ".join(f"{k} {v}" for k, v in sorted(report["apply_errors"].items())) or "0"),
        ("faults", report["faults_total"]),
        *((f"  {k}", v) for k, v in sorted(report["faults_by_kind"].items())),
        ("CR/child events recorded", report["events"]),
        ("lost versions", len(report["violations"]["lost_versions"])),
        ("unjustified deletes", len(report["violations"]["unjustified_deletes"])),
        ("rollbacks (state-version down)", len(report["violations"]["rollbacks"])),
        ("foreign objects touched", len(report["violations"]["foreign_touched"])),
        ("clusters not converged", len(report["violations"]["not_converged"])),
        ("lab parts left down", len(report["parts_left_down"])),
        ("converge after last fault p50", fmt(conv["p50"])),
        ("converge after last fault p99", fmt(conv["p99"])),
        ("converge after last fault max", fmt(conv["max"])),
    ]
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{w}}  {v}" for k, v in rows)


def junit(report: dict, path: Path) -> None:
    from xml.sax.saxutils import escape, quoteattr

    cases = [("no lost versions", "lost_versions"), ("no unjustified deletes", "unjustified_deletes"),
             ("no rollbacks", "rollbacks"), ("foreign objects untouched", "foreign_touched"),
             ("every cluster converged to its head", "not_converged")]
    body = []
    fails = 0
    for name, key in cases:
        v = report["violations"][key]
        if v:
            fails += 1
            body.append(f'  <testcase classname="chaos" name={quoteattr(name)}>'
                        f'<failure message={quoteattr(f"{len(v)} violations")}>{escape(chr(10).join(v))}'
                        f'</failure></testcase>')
        else:
            body.append(f'  <testcase classname="chaos" name={quoteattr(name)}/>')
    down = report["parts_left_down"]
    fails += bool(down)
    body.append('  <testcase classname="chaos" name="every lab part back up">'
                + (f'<failure message="parts down">{escape(", ".join(down))}</failure>' if down else "")
                + "</testcase>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="chaos" tests="{len(body)}" '
                    f'failures="{fails}">\n' + "\n".join(body) + "\n</testsuite>\n")


# ---------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="tools/chaos", description="Fault injection on the lab with an invariant "
                                 "checker (docs/reliability.md). Exits 1 naming every violation.")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of faults (default 1)")
    ap.add_argument("--faults-per-round", type=int, default=3, help="faults per round (default 3)")
    ap.add_argument("--round-seconds", type=float, default=45, help="length of a round's fault phase (default 45)")
    ap.add_argument("--faults", default=",".join(ALL_FAULTS),
                    help=f"fault kinds to draw from (default: all: {','.join(ALL_FAULTS)})")
    ap.add_argument("--daemon-faults-only", action="store_true", help=f"only {','.join(DAEMON_FAULTS)}")
    ap.add_argument("--infra-share", type=float, default=0.25,
                    help="share of faults drawn from the infrastructure kinds when both kinds are allowed "
                         "(default 0.25: a Kafka, PostgreSQL or apiserver restart disturbs every lab user)")
    ap.add_argument("--short", action="store_true",
                    help="the round tools/test runs: 1 round, 3 daemon faults, 40 s")
    ap.add_argument("--seed", type=int, help="RNG seed (default: from the clock; printed and in the report)")
    ap.add_argument("--converge-timeout", type=float, default=180, help="seconds to converge per round (default 180)")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="minutes: start no new round after this long (0: none); the report says how many ran")
    ap.add_argument("--report", help="JSON report path (default $SENREN_LAB_DIR/chaos/report-<time>.json)")
    ap.add_argument("--junit", help="also write the verdict per invariant as a JUnit file")
    args = ap.parse_args(argv)
    # `kill -USR1 <pid>` prints every thread's stack: where a hung run waits.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    kinds = [k for k in args.faults.split(",") if k]
    if args.short:
        args.rounds, args.faults_per_round, args.round_seconds = 1, 3, 40
        args.daemon_faults_only = True
    if args.daemon_faults_only:
        kinds = [k for k in kinds if k in DAEMON_FAULTS]
    bad = [k for k in kinds if k not in ALL_FAULTS]
    if bad or not kinds:
        ap.error(f"unknown fault kinds {bad} (known: {','.join(ALL_FAULTS)})" if bad else "no fault kinds")
    seed = args.seed if args.seed is not None else int(time.time() * 1000) % 1_000_000_007
    log(f"seed {seed}; {args.rounds} rounds × {args.faults_per_round} faults from {','.join(kinds)}")

    env = e2e_lab.env()
    os.environ.update({k: v for k, v in env.items() if k.startswith("SENREN_")})
    chaos_dir = Path(env["SENREN_LAB_DIR"]) / "chaos"
    chaos_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report_path = Path(args.report) if args.report else chaos_dir / f"report-{stamp}.json"
    clusters = e2e_lab.clusters(env)
    regions = sorted({c.region for c in clusters})
    region_of = {c.slug: c.region for c in clusters}
    lab = Lab(env, chaos_dir)
    down = lab.ensure_up()
    if down:
        log(f"the lab is not up: {', '.join(down)}")
        return 2
    kubes = {c.slug: Kube(c) for c in clusters}
    fault_rng, work_rng = random.Random(seed), random.Random(seed + 1)
    client = senren.Client(env["SENREN_ADDR"], token=env["SENREN_TOKEN"], timeout=30, retries=12)
    start_heads = {r: client.get_state(r).version for r in regions}

    recorder = Recorder(clusters)
    for c in clusters:
        create_foreign(kubes[c.slug], c.region)
    foreign_before = {k: v for k, v in foreign_prints(kubes, region_of).items() if v is not None}
    recorder.start()
    workload = Workload(client, regions, work_rng, (0.5, 2.0))
    workload.start()
    faults: list[Fault] = []
    rounds: list[dict] = []
    not_converged: list[str] = []
    parts_left_down: list[str] = []
    t_run = time.time()
    # SIGTERM ends the run after the round in flight: parts are put back, the report written.
    stop_asked = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_asked.set())
    try:
        for rnd in range(1, args.rounds + 1):
            if args.time_limit and time.time() - t_run > args.time_limit * 60:
                log(f"time limit of {args.time_limit:g} min reached: {rnd - 1} of {args.rounds} rounds ran")
                break
            if stop_asked.is_set():
                log(f"SIGTERM: {rnd - 1} of {args.rounds} rounds ran")
                break
            workload.resume()
            t0 = time.monotonic()
            at = sorted(fault_rng.uniform(1, args.round_seconds * 0.8) for _ in range(args.faults_per_round))
            last_end = time.time()
            for when in at:
                time.sleep(max(0.0, t0 + when - time.monotonic()))
                kind = pick_fault(fault_rng, kinds, args.infra_share)
                lab.remember_daemons()
                try:
                    f = run_fault(lab, kind, fault_rng, clusters)
                    if kind in INFRA_FAULTS:
                        # Planes and controllers that lose their Lease exit within the
                        # renew deadline (10 s) of the outage, maybe after the lab is up.
                        time.sleep(max(0.0, f.start + f.down_s + 12 - time.time()))
                        also = lab.not_up()
                        if also:
                            f.note += f"; down after it: {', '.join(also)}"
                            lab.ensure_up()
                except Exception as e:  # noqa: BLE001 - the lab is put back below; the run goes on
                    # Either the fault could not start (its part was down) or the part did
                    # not come back; the round's check below starts what is down.
                    first = str(e).splitlines()[0] if str(e) else type(e).__name__
                    f = Fault(kind, "", time.time(), time.time(), note=f"failed: {first}")
                    log(f"round {rnd}: {kind} failed: {first}")
                faults.append(f)
                last_end = f.end
                log(f"round {rnd}: {f.kind} {f.target} down {f.down_s} s {f.note}")
            # Convergence is timed from the end of the last fault: the workload stops here,
            # so every cluster's target is the head as it stands now.
            workload.pause()
            still = lab.ensure_up()
            if still:
                parts_left_down.extend(still)
            done, why = wait_converged(client, kubes, clusters, last_end, args.converge_timeout)
            for slug, w in sorted(why.items()):
                not_converged.append(f"round {rnd}: {slug} not converged {args.converge_timeout:g} s after the last "
                                     f"fault: {w}")
            worst = max(done.values()) if len(done) == len(clusters) else None
            rounds.append({"round": rnd, "converge_s": done, "converge_all_s": worst, "not_converged": why})
            log(f"round {rnd}: converged {done}" + (f"; NOT: {why}" if why else ""))
    finally:
        workload.stop()
        lab.stop_second()
        time.sleep(3)  # the last changes' events reach the recorder
        recorder.stop()
        foreign_after = foreign_prints(kubes, region_of)
        parts_left_down.extend(x for x in lab.ensure_up() if x not in parts_left_down)

    # The record is complete: the ledger's history of every region since the run's first
    # head, or since the oldest state-version a deleted CR carried (a version justifying
    # a delete is never older than the CR's own).
    events = recorder.events
    oldest = {r: start_heads[r] for r in regions}
    for e in events:
        if e.type == "DELETED" and e.managed and e.state_version and e.region in oldest:
            oldest[e.region] = min(oldest[e.region], e.state_version)
    history = {r: ledger_history(client, r, oldest[r]) for r in regions}
    checked = check.Checked(
        unjustified_deletes=check.unjustified_deletes(events, history, region_of),
        rollbacks=check.rollbacks(events),
        foreign_touched=check.foreign_touched(foreign_before, foreign_after, events),
        lost_versions=check.lost_versions([(a.region, a.version, a.refs) for a in workload.applied], history),
        not_converged=[check.Violation("not-converged", x) for x in not_converged],
    )

    # Leave the lab as found: the regions without chaos resources, no foreign objects.
    cleanup(client, regions)
    for c in clusters:
        for kind, name, _ in foreign_objects(c.region):
            try:
                delete_foreign_one(kubes[c.slug], kind, name)
            except (OSError, urllib.error.HTTPError) as e:
                log(f"{c.slug}: could not delete {kind}/{name}: {e}")
    shutil.rmtree(chaos_dir / "second-regional", ignore_errors=True)
    for d in chaos_dir.glob("second-regional-*"):
        if d.is_dir():
            shutil.rmtree(d, ignore_errors=True)

    per_round = [r["converge_all_s"] for r in rounds if r["converge_all_s"] is not None]
    per_cluster = [s for r in rounds for s in r["converge_s"].values()]
    report = {
        "seed": seed,
        "command": "tools/chaos " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": dt.datetime.fromtimestamp(t_run, dt.timezone.utc).isoformat(),
        "duration_s": round(time.time() - t_run, 1),
        "rounds": len(rounds),
        "rounds_asked": args.rounds,
        "fault_kinds": kinds,
        "applies": sum(workload.ops.values()),
        "applies_by_op": dict(workload.ops),
        "versions_written": len(workload.applied),
        "apply_errors": dict(workload.errors),
        "faults_total": len(faults),
        "faults_by_kind": dict(collections.Counter(f.kind for f in faults)),
        "faults": [dataclasses.asdict(f) for f in faults],
        "events": len(events),
        "events_by_kind": dict(collections.Counter(f"{e.kind} {e.type}" for e in events)),
        "watch_reconnects": recorder.reconnects,
        "violations": {k: [v.detail for v in getattr(checked, k)] for k in
                       ("lost_versions", "unjustified_deletes", "rollbacks", "foreign_touched", "not_converged")},
        "parts_left_down": parts_left_down,
        "converge_s": {"what": "seconds from the end of a round's last fault (the part back) until every "
                               "cluster converged to its region's head",
                       "p50": check.percentile(per_round, 50), "p99": check.percentile(per_round, 99),
                       "max": max(per_round) if per_round else None,
                       "per_cluster_p50": check.percentile(per_cluster, 50),
                       "per_cluster_p99": check.percentile(per_cluster, 99)},
        "per_round": rounds,
        "ledger_versions": {r: [history[r][0].version, history[r][-1].version] if history[r] else [] for r in regions},
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    events_path = report_path.with_suffix(".events.jsonl")
    with open(events_path, "w") as out:
        for e in events:
            out.write(json.dumps(dataclasses.asdict(e)) + "\n")
    if args.junit:
        junit(report, Path(args.junit))
    print(table(report))
    print(f"report: {report_path} (events: {events_path})")
    violations = checked.all()
    for v in violations:
        print(f"VIOLATION {v.invariant}: {v.detail}")
    if parts_left_down:
        print(f"VIOLATION lab parts left down: {', '.join(parts_left_down)}")
    client.close()
    return 1 if violations or parts_left_down else 0


def cleanup(client: senren.Client, regions: list[str]) -> None:
    for region in regions:
        for _ in range(5):
            head = client.get_state(region)
            keep = [r for r in head.resources if not r.name.startswith(PREFIX)]
            if len(keep) == len(head.resources):
                break
            try:
                client.apply_state(region, keep, message="chaos: remove the chaos resources",
                                   expected_version=head.version, allow_empty=not keep, allow_mass_delete=True)
                break
            except senren.Conflict:
                continue
            except senren.SenrenError as e:
                log(f"cleanup of {region}: {e}")
                break


if __name__ == "__main__":
    sys.exit(main())

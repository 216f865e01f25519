"""An in-process fake of senren.v1.ControlPlane for the SDK's unit tests.

It keeps a small in-memory ledger with the rules of docs/design.md §3 that the SDK relies on
(versions, changed, expected_version, idempotency keys, empty and mass-delete guards,
rollback as a new version, history pages, diffs), bearer-token roles (docs/design.md §14), a
status view with WatchStatus streams, and fault injection: ``fail(method, code, times)``
makes the next calls of a method fail with a code, before doing anything.

Bound to 127.0.0.1 on a free port; ``FakeServer.addr`` is ``"127.0.0.1:PORT"``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import defaultdict
from concurrent import futures
from dataclasses import dataclass, field
from typing import Optional

import grpc
from google.protobuf import timestamp_pb2

from senren._pb.v1 import control_plane_pb2 as cp
from senren._pb.v1 import control_plane_pb2_grpc as cp_grpc
from senren._pb.v1 import resources_pb2 as rpb
from senren._pb.v1 import state_pb2 as spb
from senren._pb.v1 import status_pb2 as stpb

WRITER = "writer-token"
READER = "reader-token"
ADMIN = "admin-token"
TOKENS = {WRITER: "writer", READER: "reader", ADMIN: "admin"}
WRITES = {"ApplyState", "PlanState", "Rollback"}

KIND_NAMES = {"redis_database": "RedisDatabase", "aerospike_cluster": "AerospikeCluster"}
KIND_ENUMS = {
    "redis_database": rpb.RESOURCE_KIND_REDIS_DATABASE,
    "aerospike_cluster": rpb.RESOURCE_KIND_AEROSPIKE_CLUSTER,
}


def ref_of(r: rpb.Resource) -> str:
    return f"{KIND_NAMES[r.WhichOneof('spec')]}/{r.name}"


def now_ts() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


@dataclass
class VersionRec:
    resources: dict[str, rpb.Resource]
    info: spb.VersionInfo


@dataclass
class Region:
    versions: list[VersionRec] = field(default_factory=list)
    keys: dict[str, tuple[cp.ApplyStateRequest, cp.ApplyStateResponse]] = field(default_factory=dict)
    clusters: dict[str, stpb.ClusterReport] = field(default_factory=dict)
    statuses: dict[tuple[str, str], stpb.ResourceStatus] = field(default_factory=dict)
    events: list[cp.StatusEvent] = field(default_factory=list)


class FakeControlPlane(cp_grpc.ControlPlaneServicer):
    """The servicer. Thread-safe (one lock); watchers get events through queues."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.regions: dict[str, Region] = defaultdict(Region)
        self.faults: dict[str, list[tuple[grpc.StatusCode, str]]] = defaultdict(list)
        self.calls: list[tuple[str, object, dict[str, str]]] = []
        # Seconds each call of a method waits before answering (deadline tests).
        self.delay: dict[str, float] = {}
        self.watchers: dict[str, list[queue.Queue]] = defaultdict(list)
        self.mass_delete_min = 10
        # When set: each applied version is "converged" by these clusters after `delay`.
        self.auto_clusters: dict[str, list[str]] = {}
        self.auto_delay = 0.02
        self.unchanged_keep_version = True

    # ------------------------------------------------------------- helpers

    def fail(self, method: str, code: grpc.StatusCode, times: int = 1, message: str = "") -> None:
        """The next `times` calls of `method` fail with `code` (message default: a text)."""
        with self.lock:
            for _ in range(times):
                self.faults[method].append((code, message or f"injected {code.name}"))

    def calls_of(self, method: str) -> list[object]:
        with self.lock:
            return [req for m, req, _ in self.calls if m == method]

    def metadata_of(self, method: str) -> list[dict[str, str]]:
        with self.lock:
            return [md for m, _, md in self.calls if m == method]

    def _enter(self, method: str, request: object, context: grpc.ServicerContext) -> str:
        md = {k: v for k, v in context.invocation_metadata()}
        with self.lock:
            self.calls.append((method, request, md))
            if self.faults[method]:
                code, msg = self.faults[method].pop(0)
                context.abort(code, msg)
            delay = self.delay.get(method, 0.0)
        if delay:
            time.sleep(delay)
        auth = md.get("authorization", "")
        if not auth.startswith("Bearer "):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        role = TOKENS.get(auth[len("Bearer "):])
        if role is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unknown token")
        if method in WRITES and role == "reader":
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"role reader may not call {method}"
            )
        return role

    def _region(self, name: str, context: grpc.ServicerContext) -> Region:
        import re

        if not re.match(r"^[a-z][a-z0-9]*:[a-z0-9-]+$", name):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f'field region: "{name}" is not a region key')
        return self.regions[name]

    @staticmethod
    def _current(reg: Region) -> dict[str, rpb.Resource]:
        return reg.versions[-1].resources if reg.versions else {}

    @staticmethod
    def _diff(before: dict[str, rpb.Resource], after: dict[str, rpb.Resource]):
        created = sorted(set(after) - set(before))
        deleted = sorted(set(before) - set(after))
        updated = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        return created, updated, deleted

    def _changes(self, before, after) -> list[cp.ResourceChange]:
        created, updated, deleted = self._diff(before, after)
        out = []
        for t, refs in (
            (cp.ResourceChange.TYPE_CREATED, created),
            (cp.ResourceChange.TYPE_UPDATED, updated),
            (cp.ResourceChange.TYPE_DELETED, deleted),
        ):
            for ref in refs:
                r = after.get(ref) or before.get(ref)
                c = cp.ResourceChange(type=t, kind=KIND_ENUMS[r.WhichOneof("spec")], name=r.name)
                if ref in before:
                    c.before.CopyFrom(before[ref])
                if ref in after:
                    c.after.CopyFrom(after[ref])
                out.append(c)
        return out

    def _guards(self, context, before, after, expected, allow_empty, allow_mass_delete, base):
        if expected is not None and expected != base:
            context.abort(
                grpc.StatusCode.ABORTED,
                f"expected_version {expected} is not the current version {base}",
            )
        if before and not after and not allow_empty:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the state deletes all {len(before)} resources; set allow_empty",
            )
        deleted = len(set(before) - set(after))
        if (
            len(before) >= self.mass_delete_min
            and deleted * 2 > len(before)
            and after
            and not allow_mass_delete
        ):
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the state deletes {deleted} of {len(before)} resources; set allow_mass_delete",
            )

    def _append(self, region: str, reg: Region, after, author, message, origin, rollback_of=0, key=""):
        before = self._current(reg)
        created, updated, deleted = self._diff(before, after)
        v = len(reg.versions) + 1
        info = spb.VersionInfo(
            region=region,
            version=v,
            author=author or "writer",
            message=message,
            created_at=now_ts(),
            origin=origin,
            rollback_of=rollback_of,
            created=len(created),
            updated=len(updated),
            deleted=len(deleted),
            resource_count=len(after),
            idempotency_key=key,
        )
        reg.versions.append(VersionRec(dict(after), info))
        resp = cp.ApplyStateResponse(
            region=region, version=v, changed=True, created=created, updated=updated, deleted=deleted
        )
        if region in self.auto_clusters:
            threading.Timer(self.auto_delay, self.converge, args=(region, v)).start()
        return resp

    # ------------------------------------------------------------- status helpers

    def publish(self, region: str, event: cp.StatusEvent) -> None:
        """Records a status event and sends it to the region's watchers."""
        with self.lock:
            reg = self.regions[region]
            event.desired_version = len(reg.versions)
            which = event.WhichOneof("event")
            if which == "cluster":
                reg.clusters[event.cluster.cluster] = event.cluster
            elif which == "resource":
                r = event.resource
                reg.statuses[(r.cluster, f"{KIND_NAMES_BY_ENUM[r.kind]}/{r.name}")] = r
            elif which == "resource_removed":
                cluster, _, ref = event.resource_removed.partition("/")
                reg.statuses.pop((cluster, ref), None)
            reg.events.append(event)
            for q in self.watchers[region]:
                q.put(event)

    def report_cluster(self, region: str, cluster: str, applied: int, total: int = 0, ready: int = 0,
                       result: int = stpb.APPLY_RESULT_APPLIED, reason: str = "",
                       rejected_snapshots: int = 0, last_rejected_snapshot: str = "") -> None:
        self.publish(region, cp.StatusEvent(cluster=stpb.ClusterReport(
            region=region, cluster=cluster, applied_version=applied, result=result, reason=reason,
            resources_total=total, resources_ready=ready, heartbeat_at=now_ts(),
            heartbeat_interval_seconds=10, applied_at=now_ts(), rejected_snapshots=rejected_snapshots,
            last_rejected_snapshot=last_rejected_snapshot)))

    def report_resource(self, region: str, cluster: str, ref: str, ready: bool, state_version: int,
                        phase: int = stpb.PHASE_READY, replicas: int = 1, message: str = "") -> None:
        kind, name = ref.split("/", 1)
        self.publish(region, cp.StatusEvent(resource=stpb.ResourceStatus(
            region=region, cluster=cluster, kind=KIND_ENUMS_BY_NAME[kind], name=name, ready=ready,
            host=f"{name}.senren.svc.cluster.local", port=6379 if kind == "RedisDatabase" else 3000,
            read_host=f"{name}-read.senren.svc.cluster.local" if kind == "RedisDatabase" else "",
            phase=phase if ready or phase != stpb.PHASE_READY else stpb.PHASE_PROVISIONING,
            message=message, ready_replicas=replicas if ready else 0, replicas=replicas,
            state_version=state_version, observed_at=now_ts())))

    def auto(self, region: str, clusters: list[str]) -> None:
        """Simulates one regional plane per cluster: each sends a heartbeat now and, after
        every applied version, the statuses of converge()."""
        with self.lock:
            self.auto_clusters[region] = list(clusters)
        for c in clusters:
            self.report_cluster(region, c, 0)

    def converge(self, region: str, version: int) -> None:
        """What a regional plane per auto cluster would report after applying `version`:
        changed resources are stamped with `version`, unchanged ones keep their old stamp."""
        with self.lock:
            reg = self.regions[region]
            rec = reg.versions[version - 1]
            prev = reg.versions[version - 2].resources if version >= 2 else {}
            clusters = list(self.auto_clusters.get(region, []))
        for c in clusters:
            for ref, r in sorted(rec.resources.items()):
                changed = prev.get(ref) != r
                if changed or not self.unchanged_keep_version:
                    self.report_resource(region, c, ref, True, version)
            for ref in sorted(set(prev) - set(rec.resources)):
                self.publish(region, cp.StatusEvent(resource_removed=f"{c}/{ref}"))
            self.report_cluster(region, c, version, len(rec.resources), len(rec.resources))

    # ------------------------------------------------------------- RPCs

    def ApplyState(self, request, context):
        self._enter("ApplyState", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            if request.idempotency_key and request.idempotency_key in reg.keys:
                # As senren-ledger: the key answers only the request it was first used for.
                first_request, first_answer = reg.keys[request.idempotency_key]
                if first_request != request:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f'field idempotency_key: "{request.idempotency_key}" was already used '
                                  f"in region {request.region} for a different request; use a new key")
                return first_answer
            after = {ref_of(r): r for r in request.resources}
            if len(after) != len(request.resources):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "field resources: duplicate name")
            before = self._current(reg)
            base = len(reg.versions)
            expected = request.expected_version if request.HasField("expected_version") else None
            self._guards(context, before, after, expected, request.allow_empty,
                         request.allow_mass_delete, base)
            if after == before:
                resp = cp.ApplyStateResponse(region=request.region, version=base, changed=False)
            else:
                resp = self._append(request.region, reg, after, request.author, request.message,
                                    spb.ORIGIN_APPLY, key=request.idempotency_key)
            if request.idempotency_key:
                reg.keys[request.idempotency_key] = (request, resp)
            return resp

    def PlanState(self, request, context):
        self._enter("PlanState", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            after = {ref_of(r): r for r in request.resources}
            before = self._current(reg)
            base = len(reg.versions)
            expected = request.expected_version if request.HasField("expected_version") else None
            self._guards(context, before, after, expected, request.allow_empty,
                         request.allow_mass_delete, base)
            created, updated, deleted = self._diff(before, after)
            return cp.PlanStateResponse(region=request.region, base_version=base, created=created,
                                        updated=updated, deleted=deleted,
                                        changes=self._changes(before, after))

    def GetState(self, request, context):
        self._enter("GetState", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            if not reg.versions and request.version == 0:
                return spb.RegionalState(region=request.region, version=0)
            v = request.version or len(reg.versions)
            if request.HasField("at"):
                at = request.at.ToNanoseconds()
                v = max((r.info.version for r in reg.versions
                         if r.info.created_at.ToNanoseconds() <= at), default=0)
                if v == 0:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"region {request.region} had no version at that time")
            if v > len(reg.versions):
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"region {request.region} has no version {v} (current: {len(reg.versions)})")
            rec = reg.versions[v - 1]
            return spb.RegionalState(
                region=request.region, version=v,
                resources=[rec.resources[k] for k in sorted(rec.resources)],
                origin=rec.info.origin, rollback_of=rec.info.rollback_of,
                created_at=rec.info.created_at, author=rec.info.author, message=rec.info.message)

    def ListRegions(self, request, context):
        self._enter("ListRegions", request, context)
        with self.lock:
            out = []
            for name in sorted(self.regions):
                reg = self.regions[name]
                if not reg.versions:
                    continue
                cur = len(reg.versions)
                out.append(cp.RegionSummary(
                    region=name, current_version=cur, resource_count=len(reg.versions[-1].resources),
                    clusters=sorted(reg.clusters),
                    clusters_converged=sum(1 for c in reg.clusters.values() if c.applied_version == cur),
                    updated_at=reg.versions[-1].info.created_at))
            return cp.ListRegionsResponse(regions=out)

    def GetHistory(self, request, context):
        self._enter("GetHistory", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            if not reg.versions:
                context.abort(grpc.StatusCode.NOT_FOUND, f"region {request.region} has no version")
            if request.resource and "/" not in request.resource:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"field resource: {request.resource!r} is not Kind/name")
            size = min(request.page_size or 20, 1000)
            start = int(request.page_token or len(reg.versions))  # newest version not yet sent
            vs, changes, nxt = [], [], 0
            for v in range(start, 0, -1):
                rec = reg.versions[v - 1]
                info = rec.info
                if request.author and info.author != request.author:
                    continue
                if request.origin and info.origin != request.origin:
                    continue
                t = info.created_at.ToNanoseconds()
                if request.HasField("since") and t < request.since.ToNanoseconds():
                    continue
                if request.HasField("until") and t > request.until.ToNanoseconds():
                    continue
                change = None
                if request.resource:
                    before = reg.versions[v - 2].resources.get(request.resource) if v > 1 else None
                    after = rec.resources.get(request.resource)
                    if before == after:
                        continue
                    change = self._resource_change(v, before, after)
                if len(vs) == size:
                    nxt = v
                    break
                vs.append(info)
                if change is not None:
                    changes.append(change)
            return cp.GetHistoryResponse(versions=vs, changes=changes,
                                         next_page_token=str(nxt) if nxt > 0 else "")

    @staticmethod
    def _fields(r: rpb.Resource) -> dict[str, object]:
        """Spec fields as state-file paths (enough of it for the SDK's tests)."""
        out: dict[str, object] = {}
        spec = getattr(r, r.WhichOneof("spec"))
        for f, value in spec.ListFields():
            if isinstance(value, (list, tuple)) or hasattr(value, "append"):
                for i, item in enumerate(value):
                    for g, x in item.ListFields():
                        out[f"{f.name}[{i}].{g.name}"] = x
            else:
                out[f.name] = value
        return out

    def _resource_change(self, v, before, after) -> cp.ResourceVersionChange:
        r = after if after is not None else before
        c = cp.ResourceChange(kind=KIND_ENUMS[r.WhichOneof("spec")], name=r.name)
        if before is not None:
            c.before.CopyFrom(before)
        if after is not None:
            c.after.CopyFrom(after)
        fields: list[str] = []
        if before is None:
            c.type = cp.ResourceChange.TYPE_CREATED
        elif after is None:
            c.type = cp.ResourceChange.TYPE_DELETED
        else:
            c.type = cp.ResourceChange.TYPE_UPDATED
            a, b = self._fields(before), self._fields(after)
            fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return cp.ResourceVersionChange(version=v, change=c, changed_fields=fields)

    def Blame(self, request, context):
        self._enter("Blame", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            at = request.version or len(reg.versions)
            if at == 0 or at > len(reg.versions):
                context.abort(grpc.StatusCode.NOT_FOUND, f"region {request.region} has no version {at}")
            current = reg.versions[at - 1].resources.get(request.resource)
            if current is None:
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"region {request.region} has no {request.resource} at version {at}")
            created = at
            while created > 1 and reg.versions[created - 2].resources.get(request.resource) is not None:
                created -= 1
            out = cp.BlameResponse(region=request.region, version=at, resource=current,
                                   created_by=reg.versions[created - 1].info)
            for path, value in sorted(self._fields(current).items()):
                v = at
                while v > created and self._fields(
                        reg.versions[v - 2].resources[request.resource]).get(path) == value:
                    v -= 1
                text = json.dumps(value if not isinstance(value, int) or isinstance(value, bool)
                                  else int(value))
                out.fields.append(cp.BlameField(field=path, value_json=text,
                                                set_by=reg.versions[v - 1].info))
            return out

    def DiffVersions(self, request, context):
        self._enter("DiffVersions", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            n = len(reg.versions)
            for v in (request.from_version, request.to_version):
                if v > n:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"region {request.region} has no version {v}")
            at = lambda v: reg.versions[v - 1].resources if v else {}  # noqa: E731
            return cp.DiffVersionsResponse(
                region=request.region, from_version=request.from_version, to_version=request.to_version,
                changes=self._changes(at(request.from_version), at(request.to_version)))

    def Rollback(self, request, context):
        self._enter("Rollback", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            if not 1 <= request.to_version <= len(reg.versions):
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"region {request.region} has no version {request.to_version}")
            after = reg.versions[request.to_version - 1].resources
            before = self._current(reg)
            expected = request.expected_version if request.HasField("expected_version") else None
            self._guards(context, before, after, expected, request.allow_empty,
                         request.allow_mass_delete, len(reg.versions))
            if after == before:
                return cp.ApplyStateResponse(region=request.region, version=len(reg.versions), changed=False)
            return self._append(request.region, reg, after, request.author, request.message,
                                spb.ORIGIN_ROLLBACK, rollback_of=request.to_version)

    def GetStatus(self, request, context):
        self._enter("GetStatus", request, context)
        with self.lock:
            reg = self._region(request.region, context)
            resp = cp.GetStatusResponse(region=request.region, desired_version=len(reg.versions))
            if request.HasField("at"):
                resp.at.CopyFrom(request.at)
            now = time.time()
            for name in sorted(reg.clusters):
                c = reg.clusters[name]
                age = max(0.0, now - c.heartbeat_at.seconds)
                resp.clusters.append(cp.ClusterStatus(
                    cluster=name, applied_version=c.applied_version, result=c.result, reason=c.reason,
                    resources_total=c.resources_total, resources_ready=c.resources_ready,
                    heartbeat_at=c.heartbeat_at, heartbeat_age_seconds=age,
                    stale=age > 3 * c.heartbeat_interval_seconds,
                    rejected_snapshots=c.rejected_snapshots,
                    last_rejected_snapshot=c.last_rejected_snapshot))
            for key in sorted(reg.statuses):
                if request.resource and request.resource not in (key[1], key[1].split("/", 1)[1]):
                    continue
                resp.resources.append(reg.statuses[key])
            return resp

    def WatchStatus(self, request, context):
        self._enter("WatchStatus", request, context)
        q: queue.Queue = queue.Queue()
        with self.lock:
            reg = self._region(request.region, context)
            if request.from_version:
                for e in reg.events:
                    q.put(e)
            self.watchers[request.region].append(q)
        try:
            while context.is_active():
                try:
                    e = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if e is None:  # end the stream (a server going away)
                    context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down")
                yield e
        finally:
            with self.lock:
                if q in self.watchers[request.region]:
                    self.watchers[request.region].remove(q)

    def break_watchers(self, region: str) -> None:
        """Ends every open WatchStatus stream of a region with UNAVAILABLE."""
        with self.lock:
            for q in list(self.watchers[region]):
                q.put(None)


KIND_NAMES_BY_ENUM = {v: KIND_NAMES[k] for k, v in KIND_ENUMS.items()}
KIND_ENUMS_BY_NAME = {KIND_NAMES[k]: v for k, v in KIND_ENUMS.items()}


class FakeServer:
    """A gRPC server on 127.0.0.1:0 serving a FakeControlPlane."""

    def __init__(self) -> None:
        self.servicer = FakeControlPlane()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        cp_grpc.add_ControlPlaneServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.addr = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)

"""Conversions between the generated senren.v1 messages and the SDK's dataclasses."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Iterable, Optional

from google.protobuf import timestamp_pb2

from ._pb.v1 import control_plane_pb2 as cp
from ._pb.v1 import resources_pb2 as rpb
from ._pb.v1 import state_pb2 as spb
from ._pb.v1 import status_pb2 as stpb
from .models import (
    ApplyResult,
    Blame,
    BlameField,
    ClusterStatus,
    Counts,
    Plan,
    RegionStatus,
    RegionSummary,
    ResourceChange,
    ResourceStatus,
    State,
    StatusEvent,
    Version,
)
from .resources import AerospikeCluster, AerospikeNamespace, RedisDatabase, Resource

_PERSISTENCE_TO_PB = {
    "none": rpb.REDIS_PERSISTENCE_NONE,
    "rdb": rpb.REDIS_PERSISTENCE_RDB,
    "aof": rpb.REDIS_PERSISTENCE_AOF,
}
_PERSISTENCE_FROM_PB = {v: k for k, v in _PERSISTENCE_TO_PB.items()}
_PERSISTENCE_FROM_PB[rpb.REDIS_PERSISTENCE_UNSPECIFIED] = "none"

_STORAGE_TO_PB = {"memory": rpb.AEROSPIKE_STORAGE_MEMORY, "device": rpb.AEROSPIKE_STORAGE_DEVICE}
_STORAGE_FROM_PB = {v: k for k, v in _STORAGE_TO_PB.items()}
_STORAGE_FROM_PB[rpb.AEROSPIKE_STORAGE_UNSPECIFIED] = "memory"

KIND_NAMES = {
    rpb.RESOURCE_KIND_REDIS_DATABASE: "RedisDatabase",
    rpb.RESOURCE_KIND_AEROSPIKE_CLUSTER: "AerospikeCluster",
}
_PHASES = {
    stpb.PHASE_PENDING: "Pending",
    stpb.PHASE_PROVISIONING: "Provisioning",
    stpb.PHASE_READY: "Ready",
    stpb.PHASE_FAILED: "Failed",
}
_RESULTS = {
    stpb.APPLY_RESULT_APPLIED: "applied",
    stpb.APPLY_RESULT_REJECTED: "rejected",
    stpb.APPLY_RESULT_PARTIAL: "partial",
}
_ORIGINS = {spb.ORIGIN_APPLY: "apply", spb.ORIGIN_ROLLBACK: "rollback"}
_CHANGE_TYPES = {
    cp.ResourceChange.TYPE_CREATED: "created",
    cp.ResourceChange.TYPE_UPDATED: "updated",
    cp.ResourceChange.TYPE_DELETED: "deleted",
}


def resource_to_pb(r: Resource) -> rpb.Resource:
    if isinstance(r, RedisDatabase):
        return rpb.Resource(
            name=r.name,
            redis_database=rpb.RedisDatabaseSpec(
                memory_mb=r.memory_mb,
                replicas=r.replicas,
                version=r.version,
                persistence=_PERSISTENCE_TO_PB[r.persistence],
                eviction_policy=r.eviction_policy,
                storage_gb=r.storage_gb,
                storage_class=r.storage_class,
            ),
        )
    if isinstance(r, AerospikeCluster):
        return rpb.Resource(
            name=r.name,
            aerospike_cluster=rpb.AerospikeClusterSpec(
                size=r.size,
                version=r.version,
                namespaces=[
                    rpb.AerospikeNamespace(
                        name=ns.name,
                        replication_factor=ns.replication_factor,
                        memory_mb=ns.memory_mb,
                        storage=_STORAGE_TO_PB[ns.storage],
                    )
                    for ns in r.namespaces
                ],
                storage_gb=r.storage_gb,
                storage_class=r.storage_class,
            ),
        )
    raise TypeError(
        f"{r!r} is not a Senren resource (RedisDatabase or AerospikeCluster)"
    )


def resources_to_pb(resources: Iterable[Resource]) -> list[rpb.Resource]:
    out = []
    for i, r in enumerate(resources):
        try:
            out.append(resource_to_pb(r))
        except TypeError as e:
            raise TypeError(f"resources[{i}]: {e}") from None
    return out


def resource_from_pb(m: rpb.Resource) -> Resource:
    """The typed resource of a message. The server validated it; defaults fill what it left empty."""
    which = m.WhichOneof("spec")
    if which == "redis_database":
        rs = m.redis_database
        return RedisDatabase(
            m.name,
            memory_mb=rs.memory_mb,
            replicas=rs.replicas or 1,
            version=rs.version or "7.2",
            persistence=_PERSISTENCE_FROM_PB.get(rs.persistence, "none"),  # type: ignore[arg-type]
            eviction_policy=rs.eviction_policy,
            storage_gb=rs.storage_gb,
            storage_class=rs.storage_class,
        )
    if which == "aerospike_cluster":
        s = m.aerospike_cluster
        return AerospikeCluster(
            m.name,
            size=s.size,
            version=s.version or "7.1",
            namespaces=[
                AerospikeNamespace(
                    ns.name,
                    memory_mb=ns.memory_mb,
                    replication_factor=ns.replication_factor or 1,
                    storage=_STORAGE_FROM_PB.get(ns.storage, "memory"),  # type: ignore[arg-type]
                )
                for ns in s.namespaces
            ],
            storage_gb=s.storage_gb,
            storage_class=s.storage_class,
        )
    raise ValueError(f"resource {m.name!r} has a kind this SDK does not know ({which})")


def ts_from_pb(ts: timestamp_pb2.Timestamp, present: bool = True) -> Optional[datetime]:
    if not present or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)


def ts_to_pb(dt: datetime) -> timestamp_pb2.Timestamp:
    if dt.tzinfo is None:
        # A naive datetime is taken as local time, as datetime.timestamp() does.
        dt = dt.astimezone()
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(timezone.utc))
    return ts


def apply_result_from_pb(m: cp.ApplyStateResponse) -> ApplyResult:
    return ApplyResult(
        version=m.version,
        changed=m.changed,
        created=list(m.created),
        updated=list(m.updated),
        deleted=list(m.deleted),
        region=m.region,
    )


def change_from_pb(c: cp.ResourceChange) -> ResourceChange:
    kind = KIND_NAMES.get(c.kind, "")
    before = resource_from_pb(c.before) if c.HasField("before") else None
    after = resource_from_pb(c.after) if c.HasField("after") else None
    if not kind:
        kind = (after or before).kind if (after or before) is not None else "Unknown"  # type: ignore[union-attr]
    return ResourceChange(
        type=_CHANGE_TYPES.get(c.type, "updated"),  # type: ignore[arg-type]
        ref=f"{kind}/{c.name}",
        before=before,
        after=after,
    )


def _split_changes(changes: list[ResourceChange]) -> tuple[list[str], list[str], list[str]]:
    out: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    for c in changes:
        out[c.type].append(c.ref)
    return out["created"], out["updated"], out["deleted"]


def plan_from_pb(m: cp.PlanStateResponse) -> Plan:
    changes = [change_from_pb(c) for c in m.changes]
    created, updated, deleted = list(m.created), list(m.updated), list(m.deleted)
    if not (created or updated or deleted) and changes:
        created, updated, deleted = _split_changes(changes)
    return Plan(
        base_version=m.base_version,
        created=created,
        updated=updated,
        deleted=deleted,
        changes=changes,
        region=m.region,
    )


def diff_from_pb(m: cp.DiffVersionsResponse) -> Plan:
    changes = [change_from_pb(c) for c in m.changes]
    created, updated, deleted = _split_changes(changes)
    return Plan(
        base_version=m.from_version,
        created=created,
        updated=updated,
        deleted=deleted,
        changes=changes,
        region=m.region,
        to_version=m.to_version,
    )


def state_from_pb(m: spb.RegionalState) -> State:
    return State(
        version=m.version,
        resources=[resource_from_pb(r) for r in m.resources],
        region=m.region,
        origin=_ORIGINS.get(m.origin, ""),
        rollback_of=m.rollback_of,
        created_at=ts_from_pb(m.created_at, m.HasField("created_at")),
        author=m.author,
        message=m.message,
    )


def version_from_pb(
    m: spb.VersionInfo, change: Optional[cp.ResourceVersionChange] = None
) -> Version:
    return Version(
        version=m.version,
        author=m.author,
        message=m.message,
        time=ts_from_pb(m.created_at, m.HasField("created_at")),
        origin=_ORIGINS.get(m.origin, ""),
        counts=Counts(created=m.created, updated=m.updated, deleted=m.deleted),
        rollback_of=m.rollback_of,
        resource_count=m.resource_count,
        region=m.region,
        change=change_from_pb(change.change) if change is not None else None,
        changed_fields=list(change.changed_fields) if change is not None else [],
    )


def history_page_from_pb(m: cp.GetHistoryResponse) -> list[Version]:
    changes = {c.version: c for c in m.changes}
    return [version_from_pb(v, changes.get(v.version)) for v in m.versions]


def blame_from_pb(m: cp.BlameResponse) -> Blame:
    return Blame(
        region=m.region,
        version=m.version,
        resource=resource_from_pb(m.resource),
        created_by=version_from_pb(m.created_by),
        fields=[
            BlameField(field=f.field, value=json.loads(f.value_json), set_by=version_from_pb(f.set_by))
            for f in m.fields
        ],
    )


def cluster_status_from_pb(m: cp.ClusterStatus) -> ClusterStatus:
    return ClusterStatus(
        cluster=m.cluster,
        applied_version=m.applied_version,
        result=_RESULTS.get(m.result, ""),
        reason=m.reason,
        resources_total=m.resources_total,
        resources_ready=m.resources_ready,
        heartbeat_at=ts_from_pb(m.heartbeat_at, m.HasField("heartbeat_at")),
        heartbeat_age_seconds=m.heartbeat_age_seconds,
        stale=m.stale,
        drift_corrections=m.drift_corrections,
        rejected_snapshots=m.rejected_snapshots,
        last_rejected_snapshot=m.last_rejected_snapshot,
    )


def cluster_report_from_pb(m: stpb.ClusterReport, now: Optional[datetime] = None) -> ClusterStatus:
    hb = ts_from_pb(m.heartbeat_at, m.HasField("heartbeat_at"))
    age = 0.0
    stale = False
    if hb is not None:
        age = max(0.0, ((now or datetime.now(timezone.utc)) - hb).total_seconds())
        stale = m.heartbeat_interval_seconds > 0 and age > 3 * m.heartbeat_interval_seconds
    return ClusterStatus(
        cluster=m.cluster,
        applied_version=m.applied_version,
        result=_RESULTS.get(m.result, ""),
        reason=m.reason,
        resources_total=m.resources_total,
        resources_ready=m.resources_ready,
        heartbeat_at=hb,
        heartbeat_age_seconds=age,
        stale=stale,
        drift_corrections=m.drift_corrections,
        rejected_snapshots=m.rejected_snapshots,
        last_rejected_snapshot=m.last_rejected_snapshot,
    )


def resource_status_from_pb(m: stpb.ResourceStatus) -> ResourceStatus:
    return ResourceStatus(
        cluster=m.cluster,
        kind=KIND_NAMES.get(m.kind, "Unknown"),
        name=m.name,
        ready=m.ready,
        host=m.host,
        port=m.port,
        phase=_PHASES.get(m.phase, ""),
        message=m.message,
        ready_replicas=m.ready_replicas,
        replicas=m.replicas,
        state_version=m.state_version,
        observed_at=ts_from_pb(m.observed_at, m.HasField("observed_at")),
        region=m.region,
        read_host=m.read_host,
    )


def region_status_from_pb(m: cp.GetStatusResponse) -> RegionStatus:
    return RegionStatus(
        clusters=[cluster_status_from_pb(c) for c in m.clusters],
        resources=[resource_status_from_pb(r) for r in m.resources],
        region=m.region,
        desired_version=m.desired_version,
        at=ts_from_pb(m.at, m.HasField("at")),
    )


def region_summary_from_pb(m: cp.RegionSummary) -> RegionSummary:
    return RegionSummary(
        region=m.region,
        current_version=m.current_version,
        resource_count=m.resource_count,
        clusters=list(m.clusters),
        clusters_converged=m.clusters_converged,
        updated_at=ts_from_pb(m.updated_at, m.HasField("updated_at")),
    )


def status_event_from_pb(m: cp.StatusEvent) -> StatusEvent:
    which = m.WhichOneof("event")
    if which == "resource":
        return StatusEvent(resource=resource_status_from_pb(m.resource), desired_version=m.desired_version)
    if which == "cluster":
        return StatusEvent(cluster=cluster_report_from_pb(m.cluster), desired_version=m.desired_version)
    if which == "resource_removed":
        return StatusEvent(removed=m.resource_removed, desired_version=m.desired_version)
    return StatusEvent(desired_version=m.desired_version)

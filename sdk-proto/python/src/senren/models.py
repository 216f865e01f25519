"""Results of the :class:`senren.Client` calls: plain frozen dataclasses.

Resource names in results are ``"Kind/name"`` strings, e.g. ``"RedisDatabase/sessions"``.
Times are timezone-aware ``datetime`` objects in UTC. Enumerations are lower-case
strings (``origin`` is ``"apply"`` or ``"rollback"``); a phase is ``"Pending"``,
``"Provisioning"``, ``"Ready"`` or ``"Failed"`` as on the Kubernetes CR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Optional

from .resources import Resource

__all__ = [
    "ApplyResult",
    "Plan",
    "ResourceChange",
    "State",
    "Counts",
    "Version",
    "BlameField",
    "Blame",
    "ClusterStatus",
    "ResourceStatus",
    "RegionStatus",
    "RegionSummary",
    "StatusEvent",
]


@dataclass(frozen=True)
class ApplyResult:
    """Answer of ``apply_state`` and ``rollback``.

    Attributes:
        version: the region's version after the call (the existing one when nothing changed).
        changed: False when the state equalled the current one and no version was written.
        created, updated, deleted: ``"Kind/name"`` of each resource changed by this version.
        region: the region key.
    """

    version: int
    changed: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    region: str = ""


@dataclass(frozen=True)
class ResourceChange:
    """One resource that differs between two states.

    Attributes:
        type: ``"created"``, ``"updated"`` or ``"deleted"``.
        ref: ``"Kind/name"``.
        before: the resource before (None when created).
        after: the resource after (None when deleted).
    """

    type: Literal["created", "updated", "deleted"]
    ref: str
    before: Optional[Resource] = None
    after: Optional[Resource] = None

    @property
    def kind(self) -> str:
        """The resource's kind, e.g. ``"RedisDatabase"``."""
        return self.ref.split("/", 1)[0]

    @property
    def name(self) -> str:
        """The resource's name."""
        return self.ref.split("/", 1)[1]


@dataclass(frozen=True)
class Plan:
    """What a state would change (``plan_state``) or what changed between two versions (``diff``).

    Attributes:
        base_version: the version the plan was computed against (for ``diff``: from_version).
            ``apply_state(..., expected_version=plan.base_version)`` applies exactly this
            plan or raises :class:`senren.Conflict`.
        created, updated, deleted: ``"Kind/name"`` of each resource.
        changes: each change with the resource before and after.
        region: the region key.
        to_version: for ``diff``, the version compared to; None for ``plan_state``.
    """

    base_version: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    changes: list[ResourceChange] = field(default_factory=list)
    region: str = ""
    to_version: Optional[int] = None

    @property
    def empty(self) -> bool:
        """True when nothing would change."""
        return not (self.created or self.updated or self.deleted)


@dataclass(frozen=True)
class State:
    """A region's complete desired state at one version (``get_state``).

    Attributes:
        version: the ledger version; 0 when the region has no version yet.
        resources: the typed resources, sorted by (kind, name).
        region, origin (``"apply"`` | ``"rollback"`` | ``""``), rollback_of, created_at,
        author, message: the version's ledger record.
    """

    version: int
    resources: list[Resource] = field(default_factory=list)
    region: str = ""
    origin: str = ""
    rollback_of: int = 0
    created_at: Optional[datetime] = None
    author: str = ""
    message: str = ""

    def get(self, ref: str) -> Optional[Resource]:
        """The resource named ``"Kind/name"`` (or just ``"name"`` when unique), or None."""
        for r in self.resources:
            if r.ref == ref or ("/" not in ref and r.name == ref):
                return r
        return None


@dataclass(frozen=True)
class Counts:
    """Resources created, updated and deleted by a version, relative to the previous one."""

    created: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class Version:
    """One version of a region's history (``history``).

    Attributes:
        version: gapless per region: 1, 2, 3, …
        author, message: as given to ``apply_state`` / ``rollback``.
        time: when the version was written (UTC).
        origin: ``"apply"`` or ``"rollback"``.
        counts: what the version changed.
        rollback_of: for a rollback, the version whose resources it restores; else 0.
        resource_count: resources in the region at this version.
        region: the region key.
    """

    version: int
    author: str
    message: str
    time: Optional[datetime]
    origin: str
    counts: Counts
    rollback_of: int = 0
    resource_count: int = 0
    region: str = ""
    #: With ``history(..., resource=...)``: what this version did to that resource.
    change: Optional[ResourceChange] = None
    #: With ``change.type == "updated"``: the spec fields that changed, as state-file
    #: paths (``"memory_mb"``, ``"namespaces[0].memory_mb"``).
    changed_fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BlameField:
    """One spec field of a resource and the version that last gave it its value.

    Attributes:
        field: state-file path, e.g. ``"memory_mb"`` or ``"namespaces[0].memory_mb"``.
        value: the value as in a state file (``1024``, ``"7.2"``, ``"rdb"``).
        set_by: the version (author, time, message) that set it.
    """

    field: str
    value: object
    set_by: Version


@dataclass(frozen=True)
class Blame:
    """Who set each field of one resource (``blame``).

    Attributes:
        region: the region key.
        version: the version the answer is about.
        resource: the typed resource at that version.
        created_by: the version that created it (its latest creation).
        fields: every spec field, sorted by path.
    """

    region: str
    version: int
    resource: Resource
    created_by: Version
    fields: list[BlameField] = field(default_factory=list)

    def get(self, path: str) -> Optional[BlameField]:
        """The field at ``path`` (e.g. ``"memory_mb"``), or None."""
        for f in self.fields:
            if f.field == path:
                return f
        return None


@dataclass(frozen=True)
class ClusterStatus:
    """What one cluster of a region reports.

    Attributes:
        cluster: the cluster's name, e.g. ``"prod"``.
        applied_version: ledger version of the last snapshot applied there.
        result: ``"applied"``, ``"rejected"``, ``"partial"`` or ``""``; ``reason`` says why.
        resources_total, resources_ready: as the cluster counted them.
        heartbeat_at, heartbeat_age_seconds, stale: liveness (stale = silent for more than
            3 heartbeat periods).
        drift_corrections: managed CRs put back after a hand edit.
        rejected_snapshots: snapshots the cluster's plane refused for their signature
            (nothing of them applied); ``last_rejected_snapshot`` says which and why.
    """

    cluster: str
    applied_version: int = 0
    result: str = ""
    reason: str = ""
    resources_total: int = 0
    resources_ready: int = 0
    heartbeat_at: Optional[datetime] = None
    heartbeat_age_seconds: float = 0.0
    stale: bool = False
    drift_corrections: int = 0
    rejected_snapshots: int = 0
    last_rejected_snapshot: str = ""


@dataclass(frozen=True)
class ResourceStatus:
    """Status of one resource in one cluster.

    Attributes:
        cluster: the cluster reporting it.
        kind, name: the resource; ``ref`` is ``"Kind/name"``.
        ready: all replicas ready for the current spec.
        host, port: where clients connect (the client Service's DNS name); for a
            RedisDatabase the primary, for reads and writes.
        read_host: RedisDatabase only: the read Service's DNS name, every pod,
            replicas included, on the same ``port``; reads there may lag the
            primary. ``""`` for an AerospikeCluster (its clients find every node
            from ``host``) and from a cluster whose controller does not report it.
        phase: ``"Pending"``, ``"Provisioning"``, ``"Ready"``, ``"Failed"`` or ``""``.
        message: the controller's explanation, if any.
        ready_replicas, replicas: pods ready / wanted.
        state_version: ledger version the CR carried when observed.
        observed_at: when the regional plane saw this status.
        region: the region key.
    """

    cluster: str
    kind: str
    name: str
    ready: bool = False
    host: str = ""
    port: int = 0
    phase: str = ""
    message: str = ""
    ready_replicas: int = 0
    replicas: int = 0
    state_version: int = 0
    observed_at: Optional[datetime] = None
    region: str = ""
    read_host: str = ""

    @property
    def ref(self) -> str:
        """``"Kind/name"``."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RegionStatus:
    """What every cluster of a region reports (``get_status``, ``wait_ready``).

    Attributes:
        clusters: one :class:`ClusterStatus` per cluster that reported.
        resources: one :class:`ResourceStatus` per resource per cluster.
        region: the region key.
        desired_version: the region's desired version (at ``at``, when given).
        at: the time the status is for, when asked for a past time.
    """

    clusters: list[ClusterStatus] = field(default_factory=list)
    resources: list[ResourceStatus] = field(default_factory=list)
    region: str = ""
    desired_version: int = 0
    at: Optional[datetime] = None

    def cluster(self, name: str) -> Optional[ClusterStatus]:
        """The status of the named cluster, or None."""
        return next((c for c in self.clusters if c.cluster == name), None)

    def resource(self, ref: str, cluster: Optional[str] = None) -> list[ResourceStatus]:
        """Statuses of the resource ``"Kind/name"`` (or ``"name"``), in every or one cluster."""
        return [
            r
            for r in self.resources
            if (r.ref == ref or ("/" not in ref and r.name == ref))
            and (cluster is None or r.cluster == cluster)
        ]


@dataclass(frozen=True)
class RegionSummary:
    """One region as ``regions()`` lists it.

    Attributes:
        region: the region key.
        current_version: its latest version.
        resource_count: resources at that version.
        clusters: clusters that have reported for the region.
        clusters_converged: how many of them applied current_version.
        updated_at: when current_version was written.
    """

    region: str
    current_version: int = 0
    resource_count: int = 0
    clusters: list[str] = field(default_factory=list)
    clusters_converged: int = 0
    updated_at: Optional[datetime] = None

    @property
    def converged(self) -> bool:
        """True when every reporting cluster applied the current version."""
        return bool(self.clusters) and self.clusters_converged == len(self.clusters)


@dataclass(frozen=True)
class StatusEvent:
    """One status change of a region (``watch_status``); exactly one of the three is set.

    Attributes:
        resource: a resource's new status in one cluster.
        cluster: a cluster's new report (applied version, counts, heartbeat).
        removed: a resource gone from a cluster, as ``"cluster/Kind/name"``.
        desired_version: the region's desired version when the event was sent.
    """

    resource: Optional[ResourceStatus] = None
    cluster: Optional[ClusterStatus] = None
    removed: Optional[str] = None
    desired_version: int = 0

    @property
    def type(self) -> Literal["resource", "cluster", "removed", ""]:
        """Which of the three the event carries."""
        if self.resource is not None:
            return "resource"
        if self.cluster is not None:
            return "cluster"
        if self.removed is not None:
            return "removed"
        return ""

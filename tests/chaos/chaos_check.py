"""The invariants of the chaos suite, as pure functions of recorded events (no lab).

The runner (chaos_run.py) records every create, update and delete of Senren's CRs and of
the objects in the watched namespace, per cluster, with the time it saw them and the
``senren.io/state-version`` they carried; it reads the ledger's history of each region.
These functions decide from that record whether an invariant was broken, and say which
object, when and why, so a violation can be found in the logs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

# Kinds of Senren's custom resources; everything else recorded is a child or a bystander.
CR_KINDS = ("RedisDatabase", "AerospikeCluster")

# Watch streams of different kinds are read by different threads, so the times two
# streams were read at are comparable only to within this many seconds. A cluster's
# floor (the highest version it is known to have applied) counts only what was seen at
# least this long before a delete, so a delete is never judged by a version applied after
# it that another stream happened to deliver first.
STREAM_SKEW_S = 2.0


@dataclass(frozen=True)
class Event:
    """One object change seen by a watch: ADDED, MODIFIED or DELETED."""

    t: float  # when it was seen (Unix seconds)
    cluster: str  # the cluster's slug, e.g. aws-us-east-1-prod
    kind: str  # RedisDatabase, AerospikeCluster, StatefulSet, Service, ConfigMap, PodDisruptionBudget
    name: str
    type: str  # ADDED | MODIFIED | DELETED
    uid: str = ""
    resource_version: str = ""
    state_version: int = 0  # senren.io/state-version, 0 when absent
    managed: bool = False  # carries app.kubernetes.io/managed-by=senren
    region: str = ""  # senren.io/region annotation (the full key), "" when absent
    owners: tuple[str, ...] = ()  # uids of its ownerReferences
    fingerprint: str = ""  # what must not change on a foreign object (see chaos_run.fingerprint)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class LedgerVersion:
    """One version of a region's ledger history and the resources it holds."""

    version: int
    time: float  # when it was written (Unix seconds)
    refs: frozenset[str]  # "Kind/name" of every resource at this version


@dataclass(frozen=True)
class Violation:
    invariant: str  # unjustified-delete | rollback | foreign-touched | lost-version | not-converged
    detail: str


@dataclass
class Checked:
    """Violations by invariant (every list must be empty)."""

    unjustified_deletes: list[Violation] = field(default_factory=list)
    rollbacks: list[Violation] = field(default_factory=list)
    foreign_touched: list[Violation] = field(default_factory=list)
    lost_versions: list[Violation] = field(default_factory=list)
    not_converged: list[Violation] = field(default_factory=list)

    def all(self) -> list[Violation]:
        return (self.unjustified_deletes + self.rollbacks + self.foreign_touched
                + self.lost_versions + self.not_converged)


def _ordered(events: Iterable[Event]) -> list[Event]:
    # Stable: events of one stream keep the order the stream gave them.
    return sorted(events, key=lambda e: e.t)


def unjustified_deletes(events: Iterable[Event], history: dict[str, Sequence[LedgerVersion]],
                        region_of: dict[str, str]) -> list[Violation]:
    """Every delete of a managed CR must be justified by the ledger.

    A delete of ``Kind/name`` in cluster C (serving region R) at time t is justified by a
    version v of R that omits the resource, was written before t, and is not older than
    what C was known to run then: v ≥ the CR's own last state-version and v ≥ C's floor
    (the highest state-version seen on any managed CR of R in C at least STREAM_SKEW_S
    earlier). A version that omits it but is older than the floor does not justify it: the
    cluster had already moved past it, to versions that keep the resource (a re-add after
    the omitting version). A delete of a child (StatefulSet, Service, ConfigMap,
    PodDisruptionBudget owned by a CR) is justified when its owner CR was deleted during the run.
    """
    out: list[Violation] = []
    evs = _ordered(events)
    deleted_uids = {e.uid for e in evs if e.type == "DELETED" and e.kind in CR_KINDS}
    for cluster, region in region_of.items():
        versions = sorted(history.get(region, ()), key=lambda v: v.version)
        seen: list[tuple[float, int]] = []  # (time, state_version) of managed CRs of the region
        last_sv: dict[str, int] = {}
        for e in (x for x in evs if x.cluster == cluster):
            if e.kind in CR_KINDS and e.managed and e.region == region:
                if e.type != "DELETED":
                    seen.append((e.t, e.state_version))
                    last_sv[e.ref] = max(last_sv.get(e.ref, 0), e.state_version)
                    continue
                own = max(last_sv.get(e.ref, 0), e.state_version)
                floor = max([sv for t, sv in seen if t <= e.t - STREAM_SKEW_S] + [own])
                ok = [v for v in versions if v.version >= floor and v.time <= e.t and e.ref not in v.refs]
                if not ok:
                    omitting = [v.version for v in versions if e.ref not in v.refs and v.time <= e.t]
                    why = (f"the versions omitting it written before the delete ({_span(omitting)}) are all "
                           f"older than the cluster's floor {floor}" if omitting
                           else "no version written before the delete omits it")
                    out.append(Violation("unjustified-delete",
                                         f"{cluster}: {e.ref} (uid {e.uid}, state-version {own}) deleted at "
                                         f"{_ts(e.t)}: {why}"))
            elif e.kind not in CR_KINDS and e.type == "DELETED" and e.owners:
                if not any(o in deleted_uids for o in e.owners):
                    out.append(Violation("unjustified-delete",
                                         f"{cluster}: child {e.ref} (uid {e.uid}) deleted at {_ts(e.t)} while "
                                         f"its owner ({', '.join(e.owners)}) was never deleted"))
    return out


def rollbacks(events: Iterable[Event]) -> list[Violation]:
    """The state-version of a managed CR never decreases, across its lifetimes in a cluster.

    A rollback in the ledger is a new, higher version, so even a rolled back spec arrives
    with a higher state-version; a lower one means a cluster went back to an old snapshot.
    """
    out: list[Violation] = []
    high: dict[tuple[str, str], tuple[int, float]] = {}
    for e in _ordered(events):
        if e.kind not in CR_KINDS or not e.managed or e.type == "DELETED" or not e.state_version:
            continue
        key = (e.cluster, e.ref)
        prev = high.get(key)
        if prev and e.state_version < prev[0]:
            out.append(Violation("rollback",
                                 f"{e.cluster}: {e.ref} went from state-version {prev[0]} (seen {_ts(prev[1])}) "
                                 f"to {e.state_version} at {_ts(e.t)}"))
        if not prev or e.state_version > prev[0]:
            high[key] = (e.state_version, e.t)
    return out


def foreign_touched(before: dict[str, str], after: dict[str, Optional[str]],
                    events: Iterable[Event]) -> list[Violation]:
    """Objects Senren does not own keep what they were: ``before`` and ``after`` map
    ``cluster/Kind/name`` to its fingerprint (None after: gone); every event recorded
    for one of them must carry the fingerprint it had at the start."""
    out: list[Violation] = []
    for key, fp in sorted(before.items()):
        now = after.get(key)
        if now is None:
            out.append(Violation("foreign-touched", f"{key}: deleted (it is not Senren's)"))
        elif now != fp:
            out.append(Violation("foreign-touched", f"{key}: changed from {fp} to {now}"))
    reported = {v.detail.split(":")[0] for v in out}
    for e in _ordered(events):
        key = f"{e.cluster}/{e.ref}"
        if key in before and key not in reported:
            if e.type == "DELETED" or e.fingerprint != before[key]:
                what = "deleted" if e.type == "DELETED" else f"changed to {e.fingerprint}"
                out.append(Violation("foreign-touched", f"{key}: {what} at {_ts(e.t)} (it is not Senren's)"))
                reported.add(key)
    return out


def lost_versions(applied: Iterable[tuple[str, int, frozenset[str]]],
                  history: dict[str, Sequence[LedgerVersion]]) -> list[Violation]:
    """Every version an apply or rollback answered is in the ledger with the resources sent."""
    out: list[Violation] = []
    for region, version, refs in applied:
        have = {v.version: v for v in history.get(region, ())}
        v = have.get(version)
        if v is None:
            out.append(Violation("lost-version", f"{region} v{version}: answered to the workload, "
                                                 "missing from the ledger history"))
        elif v.refs != refs:
            out.append(Violation("lost-version", f"{region} v{version}: the ledger holds "
                                                 f"{sorted(v.refs)}, the workload sent {sorted(refs)}"))
    return out


def percentile(values: Sequence[float], p: float) -> Optional[float]:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def _span(vs: list[int]) -> str:
    if not vs:
        return "none"
    return f"v{vs[0]}" if len(vs) == 1 else f"v{min(vs)}..v{max(vs)}, {len(vs)} versions"


def _ts(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3] + "Z"

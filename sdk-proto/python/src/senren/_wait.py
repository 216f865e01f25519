"""Readiness of a region for ``Client.wait_ready``: folds status events into a view.

Pure logic apart from ``state_at`` (a callable that returns the region's State at a
version, cached here), so it is tested with plain values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Optional, Sequence, TextIO

from .models import ClusterStatus, RegionStatus, ResourceStatus, State, StatusEvent
from .resources import Resource

_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


class ReadinessTracker:
    """What each cluster of one region reports, and whether ``version`` is ready there.

    A cluster is ready when it applied ``version`` or later (result not rejected/partial)
    and each resource it should run — those of the state at ``max(version, applied)`` —
    reports ready with a status that is for that resource's current spec: its
    ``state_version`` is the target version or later, or a version whose spec of the
    resource is equal (the regional plane leaves unchanged CRs at the version that last
    wrote them). Single-threaded.
    """

    def __init__(
        self,
        region: str,
        version: int,
        clusters: Optional[Sequence[str]],
        state_at: Callable[[int], State],
    ) -> None:
        self.region = region
        self.version = version
        self.desired_version = version
        self._expected = list(clusters) if clusters else None
        self._state_at = state_at
        self._states: dict[int, dict[str, Resource]] = {}
        self.clusters: dict[str, ClusterStatus] = {}
        self.resources: dict[tuple[str, str], ResourceStatus] = {}
        # Per cluster: the version its resources are checked against, and those not ready.
        self._target: dict[str, int] = {}
        self._bad: dict[str, set[str]] = {}
        # Changes not evaluated yet (evaluation may need a state that state_at must fetch;
        # when state_at raises, they stay pending and the next call retries them).
        self._dirty_clusters: set[str] = set()
        self._dirty_resources: set[tuple[str, str]] = set()

    # ---------------------------------------------------------------- input

    def load(self, status: RegionStatus) -> None:
        """Merges a full status answer (GetStatus); newer reports win."""
        self.desired_version = max(self.desired_version, status.desired_version)
        for c in status.clusters:
            self._merge_cluster(c)
        for r in status.resources:
            self._merge_resource(r)
        self._dirty_clusters |= set(self.clusters) | set(self._expected or [])

    def apply(self, event: StatusEvent) -> bool:
        """Folds one event in; True when it changed anything."""
        self.desired_version = max(self.desired_version, event.desired_version)
        if event.cluster is not None:
            if event.cluster.cluster and self._merge_cluster(event.cluster):
                self._dirty_clusters.add(event.cluster.cluster)
                return True
            return False
        if event.resource is not None:
            r = event.resource
            if self._merge_resource(r):
                self._dirty_resources.add((r.cluster, r.ref))
                return True
            return False
        if event.removed:
            cluster, _, ref = event.removed.partition("/")
            if self.resources.pop((cluster, ref), None) is not None:
                self._dirty_resources.add((cluster, ref))
                return True
        return False

    def _merge_cluster(self, c: ClusterStatus) -> bool:
        old = self.clusters.get(c.cluster)
        if old is not None:
            if (c.applied_version, c.heartbeat_at or _EPOCH) < (
                old.applied_version,
                old.heartbeat_at or _EPOCH,
            ):
                return False
            if old == c:
                return False
        self.clusters[c.cluster] = c
        return True

    def _merge_resource(self, r: ResourceStatus) -> bool:
        key = (r.cluster, r.ref)
        old = self.resources.get(key)
        if old is not None:
            if (r.state_version, r.observed_at or _EPOCH) < (
                old.state_version,
                old.observed_at or _EPOCH,
            ):
                return False
            if old == r:
                return False
        self.resources[key] = r
        return True

    # ---------------------------------------------------------------- evaluation

    def _refs(self, version: int) -> dict[str, Resource]:
        if version not in self._states:
            self._states[version] = {r.ref: r for r in self._state_at(version).resources}
        return self._states[version]

    def _cluster_target(self, name: str) -> int:
        c = self.clusters.get(name)
        return max(self.version, c.applied_version if c else 0)

    def _resource_ok(self, cluster: str, ref: str, target: int, want: Resource) -> bool:
        st = self.resources.get((cluster, ref))
        if st is None or not st.ready:
            return False
        s = st.state_version
        if s == 0:
            # No version on the status (a CR without the state-version annotation): nothing
            # says it runs the spec wanted, so it proves nothing about any version.
            return False
        if s >= target:
            return True
        return self._refs(s).get(ref) == want

    def _recompute(self, name: str) -> None:
        target = self._cluster_target(name)
        refs = self._refs(target)
        self._target[name] = target
        self._bad[name] = {ref for ref, want in refs.items() if not self._resource_ok(name, ref, target, want)}

    def _update_one(self, cluster: str, ref: str) -> None:
        if cluster not in self._target:
            if cluster in self.clusters:
                self._recompute(cluster)
            return
        target = self._target[cluster]
        want = self._refs(target).get(ref)
        if want is None:
            return
        if self._resource_ok(cluster, ref, target, want):
            self._bad[cluster].discard(ref)
        else:
            self._bad[cluster].add(ref)

    def flush(self) -> None:
        """Evaluates the pending changes. Raises what state_at raises; then retry later."""
        for name in sorted(self._dirty_clusters):
            self._recompute(name)
            self._dirty_clusters.discard(name)
        for key in sorted(self._dirty_resources):
            self._update_one(*key)
            self._dirty_resources.discard(key)

    def cluster_names(self) -> list[str]:
        """The clusters that must be ready: the expected ones, else every one that reported."""
        return list(self._expected) if self._expected else sorted(self.clusters)

    def _cluster_ok(self, name: str) -> bool:
        c = self.clusters.get(name)
        return (
            c is not None
            and c.applied_version >= self.version
            and c.result not in ("rejected", "partial")
        )

    def ready(self) -> bool:
        """True when every cluster applied the version and runs every resource ready."""
        self.flush()
        names = self.cluster_names()
        return bool(names) and all(
            self._cluster_ok(n) and not self._bad.get(n, {""}) for n in names
        )

    def progress(self) -> list[tuple[str, int, int, bool]]:
        """Per cluster: (name, resources ready, resources total, applied the version)."""
        self.flush()
        out = []
        for n in self.cluster_names():
            total = len(self._refs(self._target[n])) if n in self._target else 0
            bad = len(self._bad.get(n, ()))
            out.append((n, total - bad, total, self._cluster_ok(n)))
        return out

    def not_ready(self) -> list[str]:
        """One line per cluster or resource still not ready, saying why."""
        self.flush()
        names = self.cluster_names()
        if not names:
            return [f"no cluster has reported for {self.region} yet"]
        lines: list[str] = []
        for n in names:
            c = self.clusters.get(n)
            if c is None:
                lines.append(f"{n}: has not reported")
                continue
            stale = f" (silent for {c.heartbeat_age_seconds:.0f} s)" if c.stale else ""
            if c.applied_version < self.version:
                why = f"; last result {c.result}: {c.reason}" if c.reason else ""
                lines.append(
                    f"{n}: applied version {c.applied_version}, waiting for {self.version}{why}{stale}"
                )
                continue
            if c.result in ("rejected", "partial"):
                lines.append(f"{n}: version {c.applied_version} {c.result}: {c.reason}{stale}")
            target = self._target.get(n, self._cluster_target(n))
            for ref in sorted(self._bad.get(n, ())):
                st = self.resources.get((n, ref))
                if st is None:
                    lines.append(f"{n}: {ref}: no status yet")
                elif not st.ready:
                    msg = f": {st.message}" if st.message else ""
                    lines.append(
                        f"{n}: {ref}: {st.phase or 'not ready'} "
                        f"({st.ready_replicas}/{st.replicas} replicas){msg}"
                    )
                elif st.state_version == 0:
                    lines.append(f"{n}: {ref}: ready at no known version, waiting for version {target}")
                else:
                    lines.append(
                        f"{n}: {ref}: ready at version {st.state_version}, waiting for version {target}"
                    )
        return lines

    def status(self) -> RegionStatus:
        """The view as a RegionStatus (clusters sorted by name, resources by cluster, ref)."""
        return RegionStatus(
            clusters=[self.clusters[n] for n in sorted(self.clusters)],
            resources=[self.resources[k] for k in sorted(self.resources)],
            region=self.region,
            desired_version=self.desired_version,
        )


class ProgressLine:
    """One line on a terminal, rewritten in place: ``prod 2/3 ready · shadow 3/3 ready``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last = ""
        self._width = 0

    def show(self, tracker: ReadinessTracker) -> None:
        parts = []
        for name, ready, total, applied in tracker.progress():
            mark = "" if applied else " (applying)"
            parts.append(f"{name} {ready}/{total} ready{mark}")
        text = f"{tracker.region} v{tracker.version}: " + (
            " · ".join(parts) if parts else "waiting for clusters to report"
        )
        if text == self._last:
            return
        pad = max(0, self._width - len(text))
        self._out.write("\r" + text + " " * pad)
        self._out.flush()
        self._last = text
        self._width = len(text)

    def done(self) -> None:
        if self._width:
            self._out.write("\n")
            self._out.flush()
            self._width = 0

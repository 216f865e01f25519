"""The chaos suite's checker on hand-made event sequences (no lab): each invariant is
broken once on purpose and must be reported, and a clean run must report nothing."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from chaos_check import (  # noqa: E402
    Event,
    LedgerVersion,
    foreign_touched,
    lost_versions,
    percentile,
    rollbacks,
    unjustified_deletes,
)

R = "aws:us-east-1"
C = "aws-us-east-1-prod"
REGION_OF = {C: R}


def cr(t: float, typ: str, name: str, sv: int, uid: str = "u1", managed: bool = True) -> Event:
    return Event(t=t, cluster=C, kind="RedisDatabase", name=name, type=typ, uid=uid,
                 state_version=sv, managed=managed, region=R)


def history(*versions: tuple[int, float, set[str]]) -> dict[str, list[LedgerVersion]]:
    return {R: [LedgerVersion(v, t, frozenset(refs)) for v, t, refs in versions]}


A, B = "RedisDatabase/chaos-a", "RedisDatabase/chaos-b"


def test_a_delete_after_a_version_that_omits_the_cr_is_justified() -> None:
    h = history((1, 100.0, {A, B}), (2, 110.0, {B}))
    events = [cr(101, "ADDED", "chaos-a", 1), cr(101, "ADDED", "chaos-b", 1, uid="u2"),
              cr(112, "DELETED", "chaos-a", 1)]
    assert unjustified_deletes(events, h, REGION_OF) == []


def test_a_delete_no_version_omits_is_reported() -> None:
    h = history((1, 100.0, {A, B}), (2, 110.0, {A}))
    events = [cr(101, "ADDED", "chaos-a", 1), cr(111, "MODIFIED", "chaos-a", 2), cr(120, "DELETED", "chaos-a", 2)]
    found = unjustified_deletes(events, h, REGION_OF)
    assert len(found) == 1
    assert "RedisDatabase/chaos-a" in found[0].detail and "no version" in found[0].detail


def test_a_delete_before_the_omitting_version_was_written_is_reported() -> None:
    h = history((1, 100.0, {A}), (2, 130.0, set()))
    events = [cr(101, "ADDED", "chaos-a", 1), cr(120, "DELETED", "chaos-a", 1)]
    assert len(unjustified_deletes(events, h, REGION_OF)) == 1


def test_a_delete_justified_only_by_a_version_the_cluster_had_passed_is_reported() -> None:
    # v2 dropped chaos-a, v3 put it back, the cluster applied v3 (chaos-b at 3), then
    # chaos-a disappears: v2 is older than the cluster's floor, so nothing justifies it.
    h = history((1, 100.0, {A, B}), (2, 110.0, {B}), (3, 120.0, {A, B}))
    events = [cr(101, "ADDED", "chaos-a", 1), cr(101, "ADDED", "chaos-b", 1, uid="u2"),
              cr(121, "MODIFIED", "chaos-b", 3, uid="u2"), cr(130, "DELETED", "chaos-a", 1)]
    found = unjustified_deletes(events, h, REGION_OF)
    assert len(found) == 1 and "floor 3" in found[0].detail


def test_the_floor_ignores_what_another_stream_delivered_just_before_the_delete() -> None:
    # The plane deleted chaos-a for v2, then applied v3 (which re-adds it); the stream of
    # chaos-b delivered v3 a moment before the stream of chaos-a delivered the delete.
    h = history((1, 100.0, {A, B}), (2, 110.0, {B}), (3, 111.0, {A, B}))
    events = [cr(101, "ADDED", "chaos-a", 1), cr(101, "ADDED", "chaos-b", 1, uid="u2"),
              cr(112.0, "MODIFIED", "chaos-b", 3, uid="u2"), cr(112.1, "DELETED", "chaos-a", 1)]
    assert unjustified_deletes(events, h, REGION_OF) == []


def test_unmanaged_crs_and_other_regions_are_not_judged_by_the_ledger() -> None:
    h = history((1, 100.0, {A}))
    events = [cr(101, "ADDED", "chaos-x", 0, managed=False), cr(102, "DELETED", "chaos-x", 0, managed=False)]
    assert unjustified_deletes(events, h, REGION_OF) == []


def test_a_child_deleted_while_its_owner_lives_is_reported() -> None:
    h = history((1, 100.0, {A}))
    child = Event(t=105, cluster=C, kind="StatefulSet", name="redis-chaos-a", type="DELETED",
                  uid="s1", owners=("u1",))
    assert len(unjustified_deletes([cr(101, "ADDED", "chaos-a", 1), child], h, REGION_OF)) == 1
    gone = [cr(101, "ADDED", "chaos-a", 1), child, cr(106, "DELETED", "chaos-a", 1)]
    h2 = history((1, 100.0, {A}), (2, 104.0, set()))
    assert unjustified_deletes(gone, h2, REGION_OF) == []


def test_a_decreasing_state_version_is_reported() -> None:
    events = [cr(1, "ADDED", "chaos-a", 5), cr(2, "MODIFIED", "chaos-a", 7), cr(3, "MODIFIED", "chaos-a", 6)]
    found = rollbacks(events)
    assert len(found) == 1 and "from state-version 7" in found[0].detail and "to 6" in found[0].detail


def test_a_decrease_across_a_delete_and_recreate_is_reported() -> None:
    events = [cr(1, "ADDED", "chaos-a", 5), cr(2, "DELETED", "chaos-a", 5), cr(3, "ADDED", "chaos-a", 4, uid="u9")]
    assert len(rollbacks(events)) == 1


def test_equal_and_rising_state_versions_are_fine() -> None:
    events = [cr(1, "ADDED", "chaos-a", 5), cr(2, "MODIFIED", "chaos-a", 5), cr(3, "MODIFIED", "chaos-a", 9),
              cr(4, "DELETED", "chaos-a", 9), cr(5, "ADDED", "chaos-a", 12, uid="u3")]
    assert rollbacks(events) == []


def test_a_touched_foreign_object_is_reported() -> None:
    key = f"{C}/Service/redis-chaos-foreign"
    before = {key: "rv=10"}
    assert foreign_touched(before, {key: "rv=10"}, []) == []
    assert len(foreign_touched(before, {key: "rv=11"}, [])) == 1
    assert "deleted" in foreign_touched(before, {key: None}, [])[0].detail
    # Changed and put back during the run: only the events show it.
    ev = Event(t=5, cluster=C, kind="Service", name="redis-chaos-foreign", type="MODIFIED", fingerprint="rv=11")
    found = foreign_touched(before, {key: "rv=10"}, [ev])
    assert len(found) == 1 and "changed to rv=11" in found[0].detail


def test_a_lost_version_is_reported() -> None:
    h = history((1, 100.0, {A}), (2, 110.0, {A, B}))
    assert lost_versions([(R, 1, frozenset({A})), (R, 2, frozenset({A, B}))], h) == []
    assert len(lost_versions([(R, 3, frozenset({A}))], h)) == 1
    assert len(lost_versions([(R, 2, frozenset({A}))], h)) == 1


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([1.0, 9.0], 100) == 9.0

"""The control plane's API through the SDK, on the lab's senren-ledger (docs/design.md §3, §8,
§14).

Each test uses a region of its own (``e2e:t<random>``) that no regional plane serves.
"""

from __future__ import annotations

import pytest

import senren
from senren import AerospikeCluster, AerospikeNamespace, Client, RedisDatabase

pytestmark = pytest.mark.e2e_ledger


def aero(name: str, size: int = 3, rf: int = 2) -> AerospikeCluster:
    return AerospikeCluster(name, size=size, namespaces=[AerospikeNamespace("users", memory_mb=1024,
                                                                            replication_factor=rf)])


def test_apply_history_diff_rollback_get_state(client: Client, region: str) -> None:
    v1 = [RedisDatabase("sessions", memory_mb=512, replicas=3, persistence="rdb"), aero("profiles")]
    r1 = client.apply_state(region, v1, message="first")
    assert (r1.version, r1.changed) == (1, True)
    assert sorted(r1.created) == ["AerospikeCluster/profiles", "RedisDatabase/sessions"]

    again = client.apply_state(region, v1, message="same again")
    assert (again.version, again.changed) == (1, False)

    v2 = [RedisDatabase("sessions", memory_mb=1024, replicas=3, persistence="rdb"),
          RedisDatabase("cache", memory_mb=256, eviction_policy="allkeys-lru")]
    r2 = client.apply_state(region, v2, message="grow sessions, drop profiles")
    assert r2.version == 2
    assert (r2.created, r2.updated, r2.deleted) == (
        ["RedisDatabase/cache"], ["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])

    h = client.history(region)
    assert [v.version for v in h] == [2, 1]
    assert (h[0].message, h[0].origin, h[0].counts) == ("grow sessions, drop profiles", "apply",
                                                        senren.Counts(1, 1, 1))
    assert h[0].time is not None and h[0].time >= h[1].time and h[0].author

    d = client.diff(region, 1, 2)
    assert (d.created, d.updated, d.deleted) == (
        ["RedisDatabase/cache"], ["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])
    upd = next(c for c in d.changes if c.type == "updated")
    assert (upd.before.memory_mb, upd.after.memory_mb) == (512, 1024)

    rb = client.rollback(region, 1, message="back to v1")
    assert (rb.version, rb.changed) == (3, True)
    s = client.get_state(region)
    assert s.version == 3 and sorted(s.resources, key=lambda r: r.ref) == sorted(v1, key=lambda r: r.ref)
    assert (s.origin, s.rollback_of) == ("rollback", 1)
    h = client.history(region, limit=2)
    assert [(v.version, v.origin, v.rollback_of) for v in h] == [(3, "rollback", 1), (2, "apply", 0)]
    # Every version stays readable: history is never rewritten.
    assert sorted(r.ref for r in client.get_state(region, 2).resources) == [
        "RedisDatabase/cache", "RedisDatabase/sessions"]


def test_plan_then_apply_exactly_the_plan(client: Client, region: str) -> None:
    client.apply_state(region, [RedisDatabase("a", memory_mb=64)])
    plan = client.plan_state(region, [RedisDatabase("a", memory_mb=128), RedisDatabase("b", memory_mb=64)])
    assert (plan.base_version, plan.created, plan.updated, plan.deleted) == (
        1, ["RedisDatabase/b"], ["RedisDatabase/a"], [])
    assert client.get_state(region).version == 1
    r = client.apply_state(region, [RedisDatabase("a", memory_mb=128), RedisDatabase("b", memory_mb=64)],
                           expected_version=plan.base_version)
    assert r.version == 2


def test_conflict_writes_nothing(client: Client, region: str) -> None:
    client.apply_state(region, [RedisDatabase("a", memory_mb=64)])
    client.apply_state(region, [RedisDatabase("a", memory_mb=128)])
    with pytest.raises(senren.Conflict) as e:
        client.apply_state(region, [RedisDatabase("a", memory_mb=256)], expected_version=1)
    assert e.value.code == "ABORTED" and str(e.value)
    assert client.get_state(region).version == 2
    with pytest.raises(senren.Conflict):
        client.apply_state(region, [RedisDatabase("a", memory_mb=256)], expected_version=0)


def test_idempotency_key_returns_the_first_answer(client: Client, region: str) -> None:
    a = [RedisDatabase("a", memory_mb=64)]
    first = client.apply_state(region, a, idempotency_key="e2e-key-1")
    client.apply_state(region, [RedisDatabase("a", memory_mb=128)])
    # Without the key this would write version 3; with it, the first answer comes back.
    again = client.apply_state(region, a, idempotency_key="e2e-key-1")
    assert (again.version, again.changed) == (first.version, first.changed) == (1, True)
    assert client.get_state(region).version == 2
    # The same key for another request is refused rather than silently answered.
    with pytest.raises(senren.InvalidArgument, match="idempotency_key"):
        client.apply_state(region, [RedisDatabase("a", memory_mb=999)], idempotency_key="e2e-key-1")


def test_guards(client: Client, region: str) -> None:
    many = [RedisDatabase(f"r{i}", memory_mb=64) for i in range(10)]
    client.apply_state(region, many)
    with pytest.raises(senren.FailedPrecondition) as e:
        client.apply_state(region, many[:3])
    assert "7" in str(e.value)  # names the count
    with pytest.raises(senren.FailedPrecondition):
        client.apply_state(region, [])
    assert client.get_state(region).version == 1
    assert client.apply_state(region, many[:3], allow_mass_delete=True).version == 2
    assert client.apply_state(region, [], allow_empty=True).version == 3


def test_not_found(client: Client, region: str) -> None:
    client.apply_state(region, [RedisDatabase("a", memory_mb=64)])
    with pytest.raises(senren.NotFound):
        client.get_state(region, 42)
    with pytest.raises(senren.NotFound):
        client.rollback(region, 42)


def test_regions_lists_the_region(client: Client, region: str) -> None:
    client.apply_state(region, [RedisDatabase("a", memory_mb=64), RedisDatabase("b", memory_mb=64)])
    mine = [r for r in client.regions() if r.region == region]
    assert len(mine) == 1 and (mine[0].current_version, mine[0].resource_count) == (1, 2)


def test_bad_token_is_unauthenticated(lab_env: dict[str, str], region: str) -> None:
    with Client(lab_env["SENREN_ADDR"], token="not-a-token") as c:
        with pytest.raises(senren.Unauthenticated):
            c.get_state(region)
        with pytest.raises(senren.Unauthenticated):
            c.apply_state(region, [RedisDatabase("a", memory_mb=64)])
    with Client(lab_env["SENREN_ADDR"], token="") as c, pytest.raises(senren.Unauthenticated):
        c.regions()


def test_reader_reads_but_may_not_write(lab_env: dict[str, str], client: Client, region: str) -> None:
    client.apply_state(region, [RedisDatabase("a", memory_mb=64)])
    with Client(lab_env["SENREN_ADDR"], token=lab_env["SENREN_READER_TOKEN"]) as reader:
        assert reader.get_state(region).version == 1
        assert [v.version for v in reader.history(region)] == [1]
        with pytest.raises(senren.PermissionDenied):
            reader.apply_state(region, [RedisDatabase("a", memory_mb=128)])
        with pytest.raises(senren.PermissionDenied):
            reader.rollback(region, 1)
    assert client.get_state(region).version == 1

"""Client calls against the in-process fake ControlPlane: requests, results, retries."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from fake_server import ADMIN, READER, WRITER, FakeServer

import senren
from senren import AerospikeCluster, AerospikeNamespace, Client, RedisDatabase

REGION = "aws:us-east-1"


def redis(name: str = "sessions", memory_mb: int = 512, **kw) -> RedisDatabase:
    return RedisDatabase(name, memory_mb=memory_mb, **kw)


def aero(name: str = "profiles", size: int = 3) -> AerospikeCluster:
    return AerospikeCluster(name, size=size, namespaces=[
        AerospikeNamespace("users", memory_mb=1024, replication_factor=2)])


# ---------------------------------------------------------------- construction


def test_addr_and_token_from_environment(server: FakeServer, monkeypatch) -> None:
    monkeypatch.setenv("SENREN_ADDR", server.addr)
    monkeypatch.setenv("SENREN_TOKEN", WRITER)
    with Client() as c:
        assert c.addr == server.addr
        c.regions()
    assert server.servicer.metadata_of("ListRegions")[0]["authorization"] == f"Bearer {WRITER}"


def test_explicit_addr_and_token_win(server: FakeServer, monkeypatch) -> None:
    monkeypatch.setenv("SENREN_ADDR", "127.0.0.1:1")
    monkeypatch.setenv("SENREN_TOKEN", "wrong")
    with Client(server.addr, token=ADMIN) as c:
        c.regions()
    assert server.servicer.metadata_of("ListRegions")[0]["authorization"] == f"Bearer {ADMIN}"


def test_default_addr(monkeypatch) -> None:
    monkeypatch.delenv("SENREN_ADDR", raising=False)
    with Client() as c:
        assert c.addr == senren.DEFAULT_ADDR == "127.0.0.1:57070"


def test_no_token_is_unauthenticated(server: FakeServer, monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TOKEN", raising=False)
    with Client(server.addr) as c, pytest.raises(senren.Unauthenticated, match="missing bearer token"):
        c.regions()


def test_bad_token_is_unauthenticated(server: FakeServer) -> None:
    with Client(server.addr, token="nope") as c, pytest.raises(senren.Unauthenticated) as e:
        c.history(REGION)
    assert str(e.value) == "unknown token" and e.value.code == "UNAUTHENTICATED"


def test_reader_may_not_apply(server: FakeServer) -> None:
    with Client(server.addr, token=READER) as c:
        with pytest.raises(senren.PermissionDenied, match="role reader may not call ApplyState"):
            c.apply_state(REGION, [redis()])
        assert c.get_state(REGION).version == 0


def test_context_manager_closes(server: FakeServer) -> None:
    with Client(server.addr, token=WRITER) as c:
        pass
    with pytest.raises((senren.SenrenError, ValueError)):
        c.regions()


# ---------------------------------------------------------------- apply / plan


def test_apply_state_creates_a_version(client: Client, server: FakeServer) -> None:
    r = client.apply_state(REGION, [redis(), aero()], message="first", author="ops")
    assert r == senren.ApplyResult(
        version=1, changed=True, created=["AerospikeCluster/profiles", "RedisDatabase/sessions"],
        updated=[], deleted=[], region=REGION)
    req = server.servicer.calls_of("ApplyState")[0]
    assert req.message == "first" and req.author == "ops" and not req.HasField("expected_version")
    assert req.resources[0].redis_database.memory_mb == 512
    assert req.resources[1].aerospike_cluster.namespaces[0].replication_factor == 2


def test_apply_same_state_is_unchanged(client: Client) -> None:
    client.apply_state(REGION, [redis()])
    r = client.apply_state(REGION, [redis()])
    assert (r.version, r.changed, r.created) == (1, False, [])


def test_apply_update_and_delete(client: Client) -> None:
    client.apply_state(REGION, [redis(), aero()])
    r = client.apply_state(REGION, [redis(memory_mb=1024)])
    assert (r.version, r.updated, r.deleted) == (2, ["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])


def test_every_apply_carries_a_fresh_idempotency_key(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    keys = [r.idempotency_key for r in server.servicer.calls_of("ApplyState")]
    assert all(k.startswith("py-") for k in keys) and len(set(keys)) == 2


def test_given_idempotency_key_returns_first_answer(client: Client) -> None:
    a = client.apply_state(REGION, [redis()], idempotency_key="deploy-42")
    client.apply_state(REGION, [redis(memory_mb=2048)])
    b = client.apply_state(REGION, [redis()], idempotency_key="deploy-42")
    assert a == b and client.get_state(REGION).version == 2
    with pytest.raises(senren.InvalidArgument, match="idempotency_key"):
        client.apply_state(REGION, [redis(memory_mb=4096)], idempotency_key="deploy-42")


def test_apply_retry_after_unavailable_reuses_the_key(client: Client, server: FakeServer, sleeps) -> None:
    server.servicer.fail("ApplyState", grpc.StatusCode.UNAVAILABLE, times=2)
    r = client.apply_state(REGION, [redis()])
    assert r.version == 1
    keys = {req.idempotency_key for req in server.servicer.calls_of("ApplyState")}
    assert len(server.servicer.calls_of("ApplyState")) == 3 and len(keys) == 1
    assert sleeps == [0.1, 0.2]  # backoff doubles (jitter fixed at its top by _random=1.0)


def test_expected_version_conflict(client: Client) -> None:
    client.apply_state(REGION, [redis()])
    with pytest.raises(senren.Conflict, match="expected_version 0 is not the current version 1") as e:
        client.apply_state(REGION, [redis(memory_mb=1024)], expected_version=0)
    assert e.value.code == "ABORTED"
    assert client.apply_state(REGION, [redis(memory_mb=1024)], expected_version=1).version == 2


def test_conflict_is_not_retried(client: Client, server: FakeServer) -> None:
    server.servicer.fail("ApplyState", grpc.StatusCode.ABORTED)
    with pytest.raises(senren.Conflict):
        client.apply_state(REGION, [redis()])
    assert len(server.servicer.calls_of("ApplyState")) == 1


def test_empty_guard(client: Client) -> None:
    client.apply_state(REGION, [redis()])
    with pytest.raises(senren.FailedPrecondition, match="allow_empty"):
        client.apply_state(REGION, [])
    r = client.apply_state(REGION, [], allow_empty=True)
    assert r.deleted == ["RedisDatabase/sessions"]


def test_mass_delete_guard(client: Client) -> None:
    many = [redis(f"r{i}") for i in range(10)]
    client.apply_state(REGION, many)
    with pytest.raises(senren.FailedPrecondition, match="deletes 6 of 10"):
        client.apply_state(REGION, many[:4])
    assert client.apply_state(REGION, many[:4], allow_mass_delete=True).version == 2


def test_apply_validates_locally(client: Client, server: FakeServer) -> None:
    with pytest.raises(ValueError, match="region: "):
        client.apply_state("us-east-1", [redis()])
    with pytest.raises(ValueError, match=r"resources\[1\]: duplicate RedisDatabase/sessions"):
        client.apply_state(REGION, [redis(), redis(memory_mb=1024)])
    with pytest.raises(TypeError, match=r"resources\[0\]"):
        client.apply_state(REGION, [{"kind": "RedisDatabase"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="resources: "):
        client.apply_state(REGION, "sessions")  # type: ignore[arg-type]
    assert server.servicer.calls_of("ApplyState") == []


def test_server_invalid_argument_message_is_kept(client: Client, server: FakeServer) -> None:
    msg = "resource RedisDatabase/x: field spec.memory_mb: 8 is out of bounds 16..1048576"
    server.servicer.fail("ApplyState", grpc.StatusCode.INVALID_ARGUMENT, message=msg)
    with pytest.raises(senren.InvalidArgument) as e:
        client.apply_state(REGION, [redis()])
    assert str(e.value) == msg and e.value.message == msg


def test_plan_state_writes_nothing(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis(), aero()])
    plan = client.plan_state(REGION, [redis(memory_mb=1024), aero("other")])
    assert plan.base_version == 1
    assert plan.created == ["AerospikeCluster/other"]
    assert plan.updated == ["RedisDatabase/sessions"]
    assert plan.deleted == ["AerospikeCluster/profiles"]
    upd = next(c for c in plan.changes if c.type == "updated")
    assert (upd.before.memory_mb, upd.after.memory_mb) == (512, 1024)
    assert (upd.kind, upd.name) == ("RedisDatabase", "sessions")
    assert server.servicer.calls_of("PlanState")[0].dry_run
    assert client.get_state(REGION).version == 1
    r = client.apply_state(REGION, [redis(memory_mb=1024), aero("other")], expected_version=plan.base_version)
    assert r.version == 2


def test_plan_is_retried(client: Client, server: FakeServer) -> None:
    server.servicer.fail("PlanState", grpc.StatusCode.UNAVAILABLE)
    assert client.plan_state(REGION, [redis()]).created == ["RedisDatabase/sessions"]


# ---------------------------------------------------------------- reads


def test_get_state(client: Client) -> None:
    assert client.get_state(REGION) == senren.State(version=0, resources=[], region=REGION)
    client.apply_state(REGION, [redis(), aero()], message="m1", author="alice")
    client.apply_state(REGION, [redis(memory_mb=1024)])
    s = client.get_state(REGION)
    assert s.version == 2 and s.resources == [redis(memory_mb=1024)] and s.origin == "apply"
    s1 = client.get_state(REGION, 1)
    assert s1.resources == [aero(), redis()] and (s1.author, s1.message) == ("alice", "m1")
    assert s1.created_at is not None and s1.created_at.tzinfo is not None
    assert s1.get("sessions") == redis() and s1.get("AerospikeCluster/profiles") == aero()
    with pytest.raises(senren.NotFound, match="has no version 9"):
        client.get_state(REGION, 9)


def test_history_newest_first_and_paged(client: Client, server: FakeServer) -> None:
    for i in range(25):
        client.apply_state(REGION, [redis(memory_mb=16 + i)], message=f"m{i}", author="bob")
    h = client.history(REGION)
    assert [v.version for v in h] == list(range(25, 5, -1))
    v = h[0]
    assert (v.message, v.author, v.origin, v.counts) == ("m24", "bob", "apply", senren.Counts(0, 1, 0))
    assert v.time is not None and v.resource_count == 1
    assert [v.version for v in client.history(REGION, limit=3)] == [25, 24, 23]
    assert len(client.history(REGION, limit=None)) == 25
    assert [r.page_size for r in server.servicer.calls_of("GetHistory")][:2] == [20, 3]


def test_history_is_read_a_page_at_a_time(client: Client, server: FakeServer) -> None:
    for i in range(25):
        client.apply_state(REGION, [redis(memory_mb=16 + i)], message=f"m{i}")
    h = client.history(REGION, None, page_size=10)
    assert len(server.servicer.calls_of("GetHistory")) == 1  # the first page, at the call
    first = next(iter(h))
    assert first.version == 25 and len(server.servicer.calls_of("GetHistory")) == 1
    assert [len(p) for p in h.pages()] == [10, 10, 5]
    assert [v.version for v in h] == list(range(25, 0, -1))
    assert len(server.servicer.calls_of("GetHistory")) == 3  # read once, kept
    tokens = [r.page_token for r in server.servicer.calls_of("GetHistory")]
    assert tokens == ["", "15", "5"]


def test_history_filters_by_resource_author_time_and_origin(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis(memory_mb=512), aero()], author="alice")  # 1
    t1 = datetime.now(timezone.utc)
    time.sleep(0.01)
    client.apply_state(REGION, [redis(memory_mb=1024), aero()], author="bob")  # 2
    client.apply_state(REGION, [redis(memory_mb=1024)], author="alice", allow_mass_delete=True)  # 3
    client.rollback(REGION, 1, author="carol")  # 4
    h = list(client.history(REGION, None, resource="RedisDatabase/sessions"))
    assert [v.version for v in h] == [4, 2, 1]
    assert [v.change.type for v in h] == ["updated", "updated", "created"]
    assert h[1].changed_fields == ["memory_mb"]
    assert h[1].change.before == redis(memory_mb=512) and h[1].change.after == redis(memory_mb=1024)
    assert h[0].origin == "rollback" and h[0].author == "carol"
    profiles = list(client.history(REGION, None, resource="AerospikeCluster/profiles"))
    assert [(v.version, v.change.type) for v in profiles] == [(4, "created"), (3, "deleted"), (1, "created")]
    assert [v.version for v in client.history(REGION, None, author="alice")] == [3, 1]
    assert [v.version for v in client.history(REGION, None, until=t1)] == [1]
    assert [v.version for v in client.history(REGION, None, since=t1)] == [4, 3, 2]
    assert [v.version for v in client.history(REGION, None, origin="rollback")] == [4]
    req = server.servicer.calls_of("GetHistory")[-1]
    assert req.origin == 2 and req.resource == "" and not req.HasField("since")
    with pytest.raises(ValueError, match="origin"):
        client.history(REGION, origin="undo")
    with pytest.raises(senren.InvalidArgument, match="Kind/name"):
        client.history(REGION, resource="sessions")


def test_blame_names_the_version_that_set_each_field(client: Client) -> None:
    client.apply_state(REGION, [redis(memory_mb=512, replicas=1)], author="alice")
    client.apply_state(REGION, [redis(memory_mb=1024, replicas=1)], author="bob")
    client.apply_state(REGION, [redis(memory_mb=1024, replicas=3)], author="carol")
    b = client.blame(REGION, "RedisDatabase", "sessions")
    assert (b.region, b.version, b.created_by.version, b.created_by.author) == (REGION, 3, 1, "alice")
    assert b.resource == redis(memory_mb=1024, replicas=3)
    memory = b.get("memory_mb")
    assert memory is not None and memory.value == 1024
    assert (memory.set_by.version, memory.set_by.author) == (2, "bob")
    assert b.get("replicas").set_by.author == "carol"
    assert b.get("nothing") is None
    old = client.blame(REGION, "RedisDatabase", "sessions", version=1)
    assert old.get("memory_mb").value == 512 and old.get("memory_mb").set_by.version == 1
    with pytest.raises(senren.NotFound):
        client.blame(REGION, "RedisDatabase", "nope")


def test_get_state_at_a_time(client: Client) -> None:
    client.apply_state(REGION, [redis(memory_mb=512)])
    time.sleep(0.01)
    t1 = datetime.now(timezone.utc)
    time.sleep(0.01)
    client.apply_state(REGION, [redis(memory_mb=1024)])
    assert client.get_state(REGION, at=t1).version == 1
    assert client.get_state(REGION, at=t1).resources == [redis(memory_mb=512)]
    assert client.get_state(REGION, at=datetime.now(timezone.utc)).version == 2
    with pytest.raises(senren.NotFound):
        client.get_state(REGION, at=t1 - timedelta(days=1))
    with pytest.raises(ValueError, match="not both"):
        client.get_state(REGION, 1, at=t1)


def test_history_of_unknown_region(client: Client) -> None:
    with pytest.raises(senren.NotFound):
        client.history("gcp:nowhere")


def test_diff(client: Client) -> None:
    client.apply_state(REGION, [redis(), aero()])
    client.apply_state(REGION, [redis(memory_mb=1024), aero("other")])
    d = client.diff(REGION, 1, 2)
    assert (d.base_version, d.to_version) == (1, 2)
    assert (d.created, d.updated, d.deleted) == (
        ["AerospikeCluster/other"], ["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])
    deleted = next(c for c in d.changes if c.type == "deleted")
    assert deleted.before == aero() and deleted.after is None
    assert client.diff(REGION, 0, 1).created == ["AerospikeCluster/profiles", "RedisDatabase/sessions"]
    assert client.diff(REGION, 2, 2).empty


def test_rollback_appends_a_version(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    r = client.rollback(REGION, 1, message="too big")
    assert (r.version, r.changed, r.updated) == (3, True, ["RedisDatabase/sessions"])
    assert client.get_state(REGION).resources == [redis()]
    v3 = client.history(REGION, 1)[0]
    assert (v3.origin, v3.rollback_of, v3.message) == ("rollback", 1, "too big")
    with pytest.raises(senren.NotFound):
        client.rollback(REGION, 99)


def test_rollback_is_not_retried(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    server.servicer.fail("Rollback", grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(senren.Unavailable, match="injected UNAVAILABLE"):
        client.rollback(REGION, 1)
    assert len(server.servicer.calls_of("Rollback")) == 1
    assert client.get_state(REGION).version == 2


def test_rollback_expected_version(client: Client) -> None:
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    with pytest.raises(senren.Conflict):
        client.rollback(REGION, 1, expected_version=1)


def test_regions(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis(), aero()])
    client.apply_state("gcp:us-central1", [redis()])
    server.servicer.report_cluster(REGION, "prod", 1)
    server.servicer.report_cluster(REGION, "shadow", 0)
    rs = {r.region: r for r in client.regions()}
    assert set(rs) == {REGION, "gcp:us-central1"}
    r = rs[REGION]
    assert (r.current_version, r.resource_count, r.clusters, r.clusters_converged) == (1, 2, ["prod", "shadow"], 1)
    assert not r.converged and r.updated_at is not None


def test_read_host_of_redis_only(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis(replicas=3), aero()])
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 1, replicas=3)
    server.servicer.report_resource(REGION, "prod", "AerospikeCluster/profiles", True, 1, replicas=3)
    st = client.get_status(REGION)
    (r,) = st.resource("RedisDatabase/sessions")
    assert (r.host, r.read_host, r.port) == (
        "sessions.senren.svc.cluster.local", "sessions-read.senren.svc.cluster.local", 6379)
    (a,) = st.resource("AerospikeCluster/profiles")
    assert (a.host, a.read_host, a.port) == ("profiles.senren.svc.cluster.local", "", 3000)


def test_get_status_now_and_at(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.report_cluster(REGION, "prod", 1, 1, 1)
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 1, replicas=3)
    st = client.get_status(REGION)
    assert st.desired_version == 1 and st.at is None
    c = st.cluster("prod")
    assert c is not None and (c.applied_version, c.result, c.resources_ready, c.stale) == (1, "applied", 1, False)
    (r,) = st.resource("sessions")
    assert (r.cluster, r.ref, r.ready, r.phase, r.host, r.port, r.ready_replicas, r.state_version) == (
        "prod", "RedisDatabase/sessions", True, "Ready", "sessions.senren.svc.cluster.local", 6379, 3, 1)
    assert r.read_host == "sessions-read.senren.svc.cluster.local"
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    st = client.get_status(REGION, at=at)
    assert st.at == at
    assert server.servicer.calls_of("GetStatus")[-1].at.seconds == int(at.timestamp())
    # A naive datetime is local time.
    naive = datetime(2026, 1, 2, 3, 4, 5)
    client.get_status(REGION, at=naive)
    assert server.servicer.calls_of("GetStatus")[-1].at.seconds == int(naive.timestamp())
    client.get_status(REGION, resource="RedisDatabase/sessions")
    assert server.servicer.calls_of("GetStatus")[-1].resource == "RedisDatabase/sessions"


def test_get_status_and_watch_status_show_refused_snapshots(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    why = "version 9 (as its header claims) was refused: unsigned: no senren-signature header"
    got: list[senren.StatusEvent] = []
    with client.watch_status(REGION) as events:
        def produce() -> None:
            while not server.servicer.watchers[REGION]:
                time.sleep(0.01)
            server.servicer.report_cluster(REGION, "prod", 1, 1, 1, rejected_snapshots=2,
                                           last_rejected_snapshot=why)

        threading.Thread(target=produce).start()
        for e in events:
            got.append(e)
            events.cancel()
    assert got[0].cluster is not None
    assert (got[0].cluster.rejected_snapshots, got[0].cluster.last_rejected_snapshot) == (2, why)
    c = client.get_status(REGION).cluster("prod")
    assert c is not None and (c.rejected_snapshots, c.last_rejected_snapshot) == (2, why)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_state(REGION),
        lambda c: c.get_status(REGION),
        lambda c: c.regions(),
        lambda c: c.diff(REGION, 0, 0),
        lambda c: c.history("gcp:x"),
    ],
)
def test_reads_retry_unavailable(call, client: Client, server: FakeServer, sleeps) -> None:
    for m in ("GetState", "GetStatus", "ListRegions", "DiffVersions", "GetHistory"):
        server.servicer.fail(m, grpc.StatusCode.UNAVAILABLE, times=3)
    try:
        call(client)
    except senren.NotFound:
        pass  # the history of an unknown region: what matters is that it got there
    assert sleeps == [0.1, 0.2, 0.4]


def test_retries_give_up_after_the_limit(server: FakeServer, sleeps) -> None:
    server.servicer.fail("GetState", grpc.StatusCode.UNAVAILABLE, times=10, message="store down")
    with Client(server.addr, token=WRITER, retries=3, _sleep=sleeps, _random=lambda: 0.0) as c:
        with pytest.raises(senren.Unavailable, match="store down"):
            c.get_state(REGION)
    assert len(server.servicer.calls_of("GetState")) == 4
    assert sleeps == [0.05, 0.1, 0.2]  # jitter at its bottom: half the delay


def test_backoff_is_capped(server: FakeServer, sleeps) -> None:
    server.servicer.fail("GetState", grpc.StatusCode.UNAVAILABLE, times=7)
    with Client(server.addr, token=WRITER, retries=8, _sleep=sleeps, _random=lambda: 1.0) as c:
        c.get_state(REGION)
    assert sleeps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_unreachable_server_is_unavailable(sleeps) -> None:
    with Client("127.0.0.1:1", token=WRITER, retries=2, timeout=2, _sleep=sleeps) as c:
        with pytest.raises(senren.Unavailable):
            c.regions()
    assert len(sleeps) == 2


def test_deadline_exceeded_is_a_timeout(client: Client, server: FakeServer) -> None:
    server.servicer.fail("GetState", grpc.StatusCode.DEADLINE_EXCEEDED, message="deadline exceeded")
    with pytest.raises(senren.Timeout) as e:
        client.get_state(REGION)
    assert e.value.code == "DEADLINE_EXCEEDED" and str(e.value) == "deadline exceeded"


def test_client_timeout_is_the_deadline(server: FakeServer) -> None:
    server.servicer.delay["GetState"] = 2.0
    with Client(server.addr, token=WRITER, timeout=0.2) as c:
        start = time.monotonic()
        with pytest.raises(senren.Timeout):
            c.get_state(REGION)
        assert time.monotonic() - start < 1.5


def test_client_deadline_applies(server: FakeServer) -> None:
    # A WatchStatus with a short timeout ends with Timeout when nothing arrives.
    with Client(server.addr, token=WRITER, timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(senren.Timeout):
            for _ in c.watch_status(REGION, timeout=0.3):
                pass
        assert time.monotonic() - start < 3


# ---------------------------------------------------------------- watch_status


def test_watch_status_streams_events(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    got: list[senren.StatusEvent] = []
    with client.watch_status(REGION) as events:
        def produce() -> None:
            while not server.servicer.watchers[REGION]:
                time.sleep(0.01)
            server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", False, 1,
                                            message="0/1 pods ready")
            server.servicer.report_cluster(REGION, "prod", 1, 1, 0)
            server.servicer.publish(REGION, senren._pb.v1.control_plane_pb2.StatusEvent(
                resource_removed="prod/RedisDatabase/old"))

        threading.Thread(target=produce).start()
        for e in events:
            got.append(e)
            if len(got) == 3:
                events.cancel()
    assert [e.type for e in got] == ["resource", "cluster", "removed"]
    assert got[0].resource.phase == "Provisioning" and got[0].resource.message == "0/1 pods ready"
    assert got[0].desired_version == 1
    assert got[1].cluster.applied_version == 1 and got[1].cluster.result == "applied"
    assert got[2].removed == "prod/RedisDatabase/old"


def test_watch_status_replays_from_version(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.report_cluster(REGION, "prod", 1)
    with client.watch_status(REGION, from_version=1) as events:
        e = next(events)
    assert e.cluster.cluster == "prod"
    assert server.servicer.calls_of("WatchStatus")[0].from_version == 1


def test_watch_status_opening_is_retried(client: Client, server: FakeServer, sleeps) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.report_cluster(REGION, "prod", 1)
    server.servicer.fail("WatchStatus", grpc.StatusCode.UNAVAILABLE, times=2)
    with client.watch_status(REGION, from_version=1) as events:
        assert next(events).cluster.cluster == "prod"
    assert len(sleeps) == 2


def test_watch_status_errors_map(client: Client, server: FakeServer) -> None:
    server.servicer.fail("WatchStatus", grpc.StatusCode.PERMISSION_DENIED, message="no")
    with pytest.raises(senren.PermissionDenied, match="no"):
        next(iter(client.watch_status(REGION)))


def test_cancel_from_another_thread(client: Client) -> None:
    events = client.watch_status(REGION)
    threading.Timer(0.2, events.cancel).start()
    assert list(events) == []

"""AsyncClient: the asyncio twin gives the same results, errors and retries as Client."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable

import grpc
import pytest
from fake_server import READER, WRITER, FakeServer

import senren
from senren import AerospikeCluster, AerospikeNamespace, AsyncClient, RedisDatabase

REGION = "aws:us-east-1"


def redis(name: str = "sessions", memory_mb: int = 512) -> RedisDatabase:
    return RedisDatabase(name, memory_mb=memory_mb)


def run(server: FakeServer, body: Callable[[AsyncClient], Awaitable[Any]], **kw: Any) -> Any:
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)

    async def main() -> Any:
        kw.setdefault("token", WRITER)
        async with AsyncClient(server.addr, timeout=5, _sleep=fake_sleep, _random=lambda: 1.0, **kw) as c:
            return await body(c), sleeps

    return asyncio.run(main())


def test_every_call(server: FakeServer) -> None:
    async def body(c: AsyncClient) -> None:
        aero = AerospikeCluster("profiles", size=3, namespaces=[AerospikeNamespace("users", memory_mb=1024)])
        r1 = await c.apply_state(REGION, [redis(), aero], message="first")
        assert (r1.version, r1.changed, r1.created) == (1, True, ["AerospikeCluster/profiles", "RedisDatabase/sessions"])
        plan = await c.plan_state(REGION, [redis(memory_mb=1024)])
        assert (plan.base_version, plan.updated, plan.deleted) == (1, ["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])
        r2 = await c.apply_state(REGION, [redis(memory_mb=1024)], expected_version=plan.base_version)
        assert r2.version == 2
        assert (await c.get_state(REGION)).resources == [redis(memory_mb=1024)]
        assert [v.version for v in await c.history(REGION)] == [2, 1]
        h = await c.history(REGION, resource="RedisDatabase/sessions")
        assert [(v.version, v.change.type, v.changed_fields) for v in h] == [
            (2, "updated", ["memory_mb"]), (1, "created", [])]
        b = await c.blame(REGION, "RedisDatabase", "sessions")
        assert (b.get("memory_mb").value, b.get("memory_mb").set_by.version) == (1024, 2)
        assert (await c.get_state(REGION, at=h[1].time)).version == 1
        d = await c.diff(REGION, 1, 2)
        assert (d.updated, d.deleted) == (["RedisDatabase/sessions"], ["AerospikeCluster/profiles"])
        rb = await c.rollback(REGION, 1, message="back")
        assert (rb.version, rb.changed) == (3, True)
        assert [r.region for r in await c.regions()] == [REGION]
        server.servicer.report_cluster(REGION, "prod", 3, 2, 2)
        st = await c.get_status(REGION)
        assert st.cluster("prod").applied_version == 3
        with pytest.raises(senren.Conflict):
            await c.apply_state(REGION, [redis(memory_mb=64)], expected_version=1)

    run(server, body)
    keys = {r.idempotency_key for r in server.servicer.calls_of("ApplyState")}
    assert len(keys) == 3 and all(k.startswith("py-") for k in keys)


def test_errors_and_retries(server: FakeServer) -> None:
    server.servicer.fail("GetState", grpc.StatusCode.UNAVAILABLE, times=2)
    server.servicer.fail("Rollback", grpc.StatusCode.UNAVAILABLE, message="down")

    async def body(c: AsyncClient) -> None:
        assert (await c.get_state(REGION)).version == 0
        with pytest.raises(senren.Unavailable, match="down"):
            await c.rollback(REGION, 1)

    _, sleeps = run(server, body)
    assert sleeps == [0.1, 0.2]
    assert len(server.servicer.calls_of("Rollback")) == 1


def test_reader_is_denied(server: FakeServer) -> None:
    async def body(c: AsyncClient) -> None:
        with pytest.raises(senren.PermissionDenied):
            await c.apply_state(REGION, [redis()])

    run(server, body, token=READER)


def test_wait_ready_and_timeout(server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod", "shadow"])

    async def body(c: AsyncClient) -> None:
        r = await c.apply_state(REGION, [redis(), redis("cache")])
        st = await c.wait_ready(REGION, version=r.version, timeout=5)
        assert sorted(c.cluster for c in st.clusters) == ["prod", "shadow"]
        # A change whose clusters never report: Timeout names them.
        server.servicer.auto_clusters.pop(REGION)
        r2 = await c.apply_state(REGION, [redis(), redis("cache", memory_mb=1024)])
        with pytest.raises(senren.Timeout) as e:
            await c.wait_ready(REGION, version=r2.version, timeout=0.5)
        assert e.value.not_ready == ["prod: applied version 1, waiting for 2",
                                     "shadow: applied version 1, waiting for 2"]

    run(server, body)


def test_wait_ready_unchanged_resources(server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod"])

    async def body(c: AsyncClient) -> None:
        await c.apply_state(REGION, [redis(), redis("cache")])
        await c.wait_ready(REGION, timeout=5)
        r = await c.apply_state(REGION, [redis(), redis("cache", memory_mb=1024)])
        st = await c.wait_ready(REGION, version=r.version, timeout=5)
        assert {x.ref: x.state_version for x in st.resources} == {
            "RedisDatabase/sessions": 1, "RedisDatabase/cache": 2}

    run(server, body)


def test_watch_status(server: FakeServer) -> None:
    server.servicer.fail("WatchStatus", grpc.StatusCode.UNAVAILABLE)

    async def body(c: AsyncClient) -> list[senren.StatusEvent]:
        await c.apply_state(REGION, [redis()])

        def produce() -> None:
            while not server.servicer.watchers[REGION]:
                time.sleep(0.01)
            server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 1)
            server.servicer.report_cluster(REGION, "prod", 1, 1, 1)

        threading.Thread(target=produce).start()
        got = []
        async with c.watch_status(REGION) as events:
            async for e in events:
                got.append(e)
                if len(got) == 2:
                    events.cancel()
        return got

    got, sleeps = run(server, body)
    assert [e.type for e in got] == ["resource", "cluster"] and len(sleeps) == 1


def test_watch_timeout(server: FakeServer) -> None:
    async def body(c: AsyncClient) -> None:
        with pytest.raises(senren.Timeout):
            async for _ in c.watch_status(REGION, timeout=0.3):
                pass

    run(server, body)

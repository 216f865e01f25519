"""wait_ready follows WatchStatus until every cluster applied the version and runs it ready."""

from __future__ import annotations

import io
import threading
import time

import pytest
from fake_server import FakeServer

import senren
from senren import Client, RedisDatabase
from senren._pb.v1 import status_pb2 as stpb

REGION = "aws:us-east-1"


def redis(name: str = "sessions", memory_mb: int = 512) -> RedisDatabase:
    return RedisDatabase(name, memory_mb=memory_mb)


def later(seconds: float, fn, *args, **kw) -> None:
    threading.Timer(seconds, fn, args=args, kwargs=kw).start()


def test_ready_when_every_cluster_runs_the_version(client: Client, server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod", "shadow"])
    r = client.apply_state(REGION, [redis(), redis("cache")])
    st = client.wait_ready(REGION, version=r.version, timeout=5)
    assert {c.cluster for c in st.clusters} == {"prod", "shadow"}
    assert all(c.applied_version == 1 for c in st.clusters)
    assert len(st.resources) == 4 and all(x.ready and x.host and x.port for x in st.resources)
    assert server.servicer.calls_of("WatchStatus")[0].from_version == 1


def test_defaults_to_the_current_version(client: Client, server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod"])
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    st = client.wait_ready(REGION, timeout=5)
    assert st.cluster("prod").applied_version == 2


def test_unchanged_resources_keep_their_older_version(client: Client, server: FakeServer) -> None:
    # The regional plane stamps only changed CRs with the new version.
    server.servicer.auto(REGION, ["prod"])
    client.apply_state(REGION, [redis(), redis("cache")])
    client.wait_ready(REGION, timeout=5)
    r = client.apply_state(REGION, [redis(), redis("cache", memory_mb=1024)])
    st = client.wait_ready(REGION, version=r.version, timeout=5)
    versions = {x.ref: x.state_version for x in st.resources}
    assert versions == {"RedisDatabase/sessions": 1, "RedisDatabase/cache": 2}


def test_an_older_ready_status_of_a_changed_resource_is_not_enough(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 1)
    server.servicer.report_cluster(REGION, "prod", 1, 1, 1)
    client.apply_state(REGION, [redis(memory_mb=1024)])
    server.servicer.report_cluster(REGION, "prod", 2, 1, 1)  # applied, not rolled yet
    with pytest.raises(senren.Timeout) as e:
        client.wait_ready(REGION, version=2, timeout=0.5)
    assert e.value.not_ready == [
        "prod: RedisDatabase/sessions: ready at version 1, waiting for version 2"]
    later(0.2, server.servicer.report_resource, REGION, "prod", "RedisDatabase/sessions", True, 2)
    assert client.wait_ready(REGION, version=2, timeout=5).resource("sessions")[0].state_version == 2


def test_a_ready_status_without_a_version_is_not_enough(client: Client, server: FakeServer) -> None:
    # state_version 0: the CR carried no senren.io/state-version, so nothing says which spec runs.
    client.apply_state(REGION, [redis()])
    client.apply_state(REGION, [redis(memory_mb=1024)])
    server.servicer.report_cluster(REGION, "prod", 2, 1, 1)
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 0)
    with pytest.raises(senren.Timeout) as e:
        client.wait_ready(REGION, version=2, timeout=0.5)
    assert e.value.not_ready == [
        "prod: RedisDatabase/sessions: ready at no known version, waiting for version 2"]
    later(0.2, server.servicer.report_resource, REGION, "prod", "RedisDatabase/sessions", True, 2)
    assert client.wait_ready(REGION, version=2, timeout=5).resource("sessions")[0].state_version == 2


def test_timeout_names_what_is_not_ready(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis(), redis("cache")])
    server.servicer.report_cluster(REGION, "prod", 1, 2, 1)
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/sessions", True, 1)
    server.servicer.report_resource(REGION, "prod", "RedisDatabase/cache", False, 1, replicas=3,
                                    phase=stpb.PHASE_PROVISIONING, message="waiting for pods")
    server.servicer.report_cluster(REGION, "shadow", 0, 0, 0)
    start = time.monotonic()
    with pytest.raises(senren.Timeout) as e:
        client.wait_ready(REGION, version=1, timeout=0.5, clusters=["prod", "shadow", "dr"])
    assert time.monotonic() - start < 3
    assert e.value.not_ready == [
        "prod: RedisDatabase/cache: Provisioning (0/3 replicas): waiting for pods",
        "shadow: applied version 0, waiting for 1",
        "dr: has not reported",
    ]
    msg = str(e.value)
    assert msg.startswith("aws:us-east-1 version 1 not ready after 0.5 s:")
    assert "RedisDatabase/cache" in msg and "dr: has not reported" in msg
    assert e.value.status is not None and e.value.status.cluster("prod").applied_version == 1


def test_timeout_when_no_cluster_reported(client: Client) -> None:
    client.apply_state(REGION, [redis()])
    with pytest.raises(senren.Timeout, match="no cluster has reported for aws:us-east-1 yet"):
        client.wait_ready(REGION, timeout=0.3)


def test_rejected_cluster_is_named(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.report_cluster(REGION, "prod", 1, 1, 0, result=stpb.APPLY_RESULT_REJECTED,
                                   reason="no CRD for RedisDatabase")
    with pytest.raises(senren.Timeout, match="prod: version 1 rejected: no CRD for RedisDatabase"):
        client.wait_ready(REGION, timeout=0.3)


def test_deleted_resource_gone(client: Client, server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod"])
    client.apply_state(REGION, [redis(), redis("cache")])
    client.wait_ready(REGION, timeout=5)
    r = client.apply_state(REGION, [redis()])
    st = client.wait_ready(REGION, version=r.version, timeout=5)
    assert [x.ref for x in st.resources] == ["RedisDatabase/sessions"]


def test_follows_the_stream_not_polling(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    later(0.3, server.servicer.converge, REGION, 1)
    server.servicer.auto(REGION, ["prod"])
    client.wait_ready(REGION, version=1, timeout=5)
    assert len(server.servicer.calls_of("GetStatus")) == 1
    assert len(server.servicer.calls_of("WatchStatus")) == 1


def test_reconnects_when_the_stream_breaks(client: Client, server: FakeServer) -> None:
    client.apply_state(REGION, [redis()])
    server.servicer.auto(REGION, ["prod"])

    def breaker() -> None:
        while not server.servicer.watchers[REGION]:
            time.sleep(0.01)
        server.servicer.break_watchers(REGION)
        time.sleep(0.2)
        server.servicer.converge(REGION, 1)

    threading.Thread(target=breaker).start()
    st = client.wait_ready(REGION, version=1, timeout=5)
    assert st.cluster("prod").applied_version == 1
    assert len(server.servicer.calls_of("WatchStatus")) >= 2


def test_unimplemented_status_is_raised_at_once(client: Client, server: FakeServer) -> None:
    import grpc

    client.apply_state(REGION, [redis()])
    server.servicer.fail("GetStatus", grpc.StatusCode.UNIMPLEMENTED, message="GetStatus is not implemented")
    with pytest.raises(senren.Unimplemented, match="GetStatus is not implemented"):
        client.wait_ready(REGION, timeout=5)


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_tty(client: Client, server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod", "shadow"])
    out = FakeTty()
    client.apply_state(REGION, [redis(), redis("cache")])
    client.wait_ready(REGION, timeout=5, out=out)
    text = out.getvalue()
    assert "\r" in text and text.endswith("\n")
    assert "aws:us-east-1 v1: prod 2/2 ready · shadow 2/2 ready" in text


def test_no_progress_when_not_a_tty(client: Client, server: FakeServer) -> None:
    server.servicer.auto(REGION, ["prod"])
    out = io.StringIO()
    client.apply_state(REGION, [redis()])
    client.wait_ready(REGION, timeout=5, out=out)
    assert out.getvalue() == ""

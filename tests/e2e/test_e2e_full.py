"""End to end on the whole lab: SDK → ledger → Kafka → regional planes →
Kubernetes CRs → controllers → status back to the SDK.

These tests own the lab's regions while they run: each applies a complete state to a
lab region (replacing what was there). Resource names carry a random suffix per test.
The fault tests stop lab parts by their recorded pids and start the same processes
again (e2e_lab.stop / e2e_lab.start).
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timezone
from typing import Sequence

import e2e_lab
import pytest

import senren
from senren import AerospikeCluster, AerospikeNamespace, Client, RedisDatabase

pytestmark = pytest.mark.e2e_full

US_EAST = "aws:us-east-1"
CENTRAL = "gcp:us-central1"
EUROPE = "gcp:europe-west1"
READY_TIMEOUT = 120


def clusters_of(env: dict[str, str], region: str) -> list[e2e_lab.Cluster]:
    return [c for c in e2e_lab.clusters(env) if c.region == region]


def names_of(env: dict[str, str], region: str) -> list[str]:
    return [c.name for c in clusters_of(env, region)]


def state(uniq: str, redis_mb: int = 64, replicas: int = 1, with_aerospike: bool = True,
          aerospike_mb: int = 64) -> list:
    out: list = [RedisDatabase(f"sess-{uniq}", memory_mb=redis_mb, replicas=replicas)]
    if with_aerospike:
        out.append(AerospikeCluster(f"prof-{uniq}", size=1, namespaces=[
            AerospikeNamespace("users", memory_mb=aerospike_mb, replication_factor=1)]))
    return out


def apply(client: Client, region: str, resources: Sequence, **kw) -> senren.ApplyResult:
    # The lab's regions hold what the previous test left: replacing it is meant.
    return client.apply_state(region, resources, allow_mass_delete=True, allow_empty=True, **kw)


def assert_running(env: dict[str, str], client: Client, region: str, version: int,
                   resources: Sequence) -> senren.RegionStatus:
    """Ready in every cluster of the region (status and CRs), and in no other region."""
    names = names_of(env, region)
    st = client.wait_ready(region, version=version, timeout=READY_TIMEOUT, clusters=names)
    assert st.desired_version == version, (
        f"{region} moved on to version {st.desired_version} while this test waited for {version}: "
        f"another client applies to it ({client.history(region, 1)[0].message!r}); these tests "
        "need the lab's regions to themselves")
    for r in resources:
        got = st.resource(r.ref)
        assert sorted(s.cluster for s in got) == sorted(names), r.ref
        for s in got:
            assert s.ready and s.host and s.port > 0 and s.phase == "Ready", s
    for c in e2e_lab.clusters(env):
        crs = e2e_lab.crs(env, c)
        for r in resources:
            if c.region == region:
                assert r.ref in crs, f"{r.ref} missing in {c.slug}"
                ann = crs[r.ref]["metadata"].get("annotations", {})
                assert int(ann.get("senren.io/state-version", "0")) <= version
            else:
                assert r.ref not in crs, f"{r.ref} found in {c.slug}, outside {region}"
    return st


def cr_spec(env: dict[str, str], cluster: e2e_lab.Cluster, ref: str) -> dict:
    return e2e_lab.crs(env, cluster).get(ref, {}).get("spec", {})


def test_apply_ready_in_every_cluster_of_the_region_and_none_elsewhere(lab_env, client, uniq) -> None:
    res = state(uniq)
    r = apply(client, US_EAST, res, message=f"e2e apply {uniq}")
    st = assert_running(lab_env, client, US_EAST, r.version, res)
    assert {c.cluster for c in st.clusters} >= set(names_of(lab_env, US_EAST))
    assert all(c.applied_version >= r.version for c in st.clusters)


def test_update_is_rolled_out(lab_env, client, uniq) -> None:
    r1 = apply(client, US_EAST, state(uniq))
    assert_running(lab_env, client, US_EAST, r1.version, state(uniq))
    new = state(uniq, redis_mb=128, replicas=2)
    r2 = apply(client, US_EAST, new, message="grow")
    assert r2.updated == [f"RedisDatabase/sess-{uniq}"]
    st = assert_running(lab_env, client, US_EAST, r2.version, new)
    for s in st.resource(f"RedisDatabase/sess-{uniq}"):
        assert s.ready_replicas == 2
    for c in clusters_of(lab_env, US_EAST):
        spec = cr_spec(lab_env, c, f"RedisDatabase/sess-{uniq}")
        assert spec.get("replicas") == 2, (c.slug, spec)


def test_delete_is_gone(lab_env, client, uniq) -> None:
    r1 = apply(client, US_EAST, state(uniq))
    assert_running(lab_env, client, US_EAST, r1.version, state(uniq))
    keep = state(uniq, with_aerospike=False)
    r2 = apply(client, US_EAST, keep)
    assert r2.deleted == [f"AerospikeCluster/prof-{uniq}"]
    st = assert_running(lab_env, client, US_EAST, r2.version, keep)
    gone = f"AerospikeCluster/prof-{uniq}"
    for c in clusters_of(lab_env, US_EAST):
        e2e_lab.wait_until(f"{gone} deleted in {c.slug}", lambda c=c: gone not in e2e_lab.crs(lab_env, c))
    e2e_lab.wait_until(f"{gone} gone from the status",
                       lambda: not client.get_status(US_EAST).resource(gone), timeout=30)
    del st


def test_rollback_runs_the_previous_state_again(lab_env, client, uniq) -> None:
    v1 = state(uniq)
    r1 = apply(client, US_EAST, v1)
    assert_running(lab_env, client, US_EAST, r1.version, v1)
    r2 = apply(client, US_EAST, state(uniq, redis_mb=256, with_aerospike=False))
    assert_running(lab_env, client, US_EAST, r2.version, state(uniq, redis_mb=256, with_aerospike=False))
    rb = client.rollback(US_EAST, r1.version, message="e2e rollback")
    assert rb.version == r2.version + 1
    assert client.history(US_EAST, 1)[0].rollback_of == r1.version
    assert_running(lab_env, client, US_EAST, rb.version, v1)
    for c in clusters_of(lab_env, US_EAST):
        assert cr_spec(lab_env, c, f"RedisDatabase/sess-{uniq}").get("memoryMb") == 64


def test_two_regions_applied_concurrently(lab_env, client, uniq) -> None:
    results: dict[str, object] = {}

    def run(region: str) -> None:
        try:
            res = state(f"{uniq}{region[4]}")
            r = apply(client, region, res)
            results[region] = assert_running(lab_env, client, region, r.version, res)
        except BaseException as e:  # noqa: BLE001 - reported below
            results[region] = e

    threads = [threading.Thread(target=run, args=(rg,)) for rg in (CENTRAL, EUROPE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(READY_TIMEOUT + 60)
    for rg in (CENTRAL, EUROPE):
        assert isinstance(results.get(rg), senren.RegionStatus), (rg, results.get(rg))


def test_status_change_is_seen_by_watch_status(lab_env, client, uniq) -> None:
    with client.watch_status(US_EAST) as events:
        r = apply(client, US_EAST, state(uniq, with_aerospike=False))
        seen = set()
        deadline = time.monotonic() + READY_TIMEOUT
        for e in events:
            if e.resource and e.resource.name == f"sess-{uniq}" and e.resource.ready:
                seen.add(e.resource.cluster)
            if seen >= set(names_of(lab_env, US_EAST)) or time.monotonic() > deadline:
                break
    assert seen == set(names_of(lab_env, US_EAST))


def test_status_at_a_past_time(lab_env, client, uniq) -> None:
    r1 = apply(client, US_EAST, state(uniq, with_aerospike=False))
    assert_running(lab_env, client, US_EAST, r1.version, state(uniq, with_aerospike=False))
    between = datetime.now(timezone.utc)
    time.sleep(0.05)
    r2 = apply(client, US_EAST, state(uniq, redis_mb=72, with_aerospike=False))
    assert_running(lab_env, client, US_EAST, r2.version, state(uniq, redis_mb=72, with_aerospike=False))
    past = client.get_status(US_EAST, at=between)
    assert past.desired_version == r1.version
    for s in past.resource(f"RedisDatabase/sess-{uniq}"):
        assert s.state_version <= r1.version
    assert client.get_status(US_EAST).desired_version == r2.version


def test_quickstart(lab_env) -> None:
    """examples/quickstart.py, as tools/lab up runs it: both clusters ready, host and port."""
    import os
    import subprocess
    import sys

    p = subprocess.run([sys.executable, str(e2e_lab.ROOT / "examples" / "quickstart.py")],
                       env={**os.environ, **lab_env}, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    import re

    for cluster in ("prod", "shadow"):
        for ref in ("RedisDatabase/sessions", "AerospikeCluster/profiles"):
            assert re.search(rf"^  {cluster} +{ref} +yes +\S+:\d+$", p.stdout, re.M), (cluster, ref)
    assert "4. roll back to version" in p.stdout and p.stdout.rstrip().endswith("quickstart: done")


@pytest.mark.e2e_fault
def test_ledger_restart_midway(lab_env, uniq) -> None:
    # A client patient enough to outlast the restart: retries UNAVAILABLE for ~1 min.
    with Client(lab_env["SENREN_ADDR"], token=lab_env["SENREN_TOKEN"], timeout=120, retries=40) as c:
        r1 = apply(c, US_EAST, state(uniq))
        assert_running(lab_env, c, US_EAST, r1.version, state(uniq))
        ledger = e2e_lab.stop(lab_env, "senren-ledger")
        threading.Timer(3.0, e2e_lab.start, args=(lab_env, ledger)).start()
        new = state(uniq, redis_mb=96)
        r2 = apply(c, US_EAST, new, message="during a ledger restart")
        assert r2.version == r1.version + 1
        assert_running(lab_env, c, US_EAST, r2.version, new)
        # The retried apply was written once.
        assert [v.version for v in c.history(US_EAST, 2)] == [r2.version, r1.version]


@pytest.mark.e2e_fault
def test_regional_plane_killed_midapply(lab_env, client, uniq) -> None:
    r1 = apply(client, US_EAST, state(uniq))
    assert_running(lab_env, client, US_EAST, r1.version, state(uniq))
    new = state(uniq, redis_mb=80, replicas=2)
    r2 = apply(client, US_EAST, new)
    plane = e2e_lab.stop(lab_env, "senren-regional-aws-us-east-1-prod", sig=signal.SIGKILL)
    try:
        time.sleep(1.0)
    finally:
        e2e_lab.start(lab_env, plane)
    assert_running(lab_env, client, US_EAST, r2.version, new)


@pytest.mark.e2e_fault
def test_kafka_stopped_30s_during_applies(lab_env, client, uniq) -> None:
    r0 = apply(client, US_EAST, state(uniq))
    assert_running(lab_env, client, US_EAST, r0.version, state(uniq))
    port = int(lab_env["SENREN_KAFKA_BROKERS"].rsplit(":", 1)[1])
    kafka = e2e_lab.stop(lab_env, "kafka")
    stopped = time.monotonic()
    versions = []
    try:
        for i in range(3):
            # Both resources change each time: the scenario is Kafka, and fresh pods keep
            # it apart from the lab's node flaps (see tests/e2e/README.md).
            res = state(uniq, redis_mb=100 + i, aerospike_mb=100 + i)
            versions.append((apply(client, US_EAST, res, message=f"while kafka is down {i}").version, res))
            time.sleep(5)
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped)))
    finally:
        e2e_lab.start(lab_env, kafka)
    e2e_lab.wait_until("kafka answers again", lambda: e2e_lab.tcp_open(port), timeout=120)
    last_version, last = versions[-1]
    assert [v for v, _ in versions] == [r0.version + 1, r0.version + 2, r0.version + 3]
    assert_running(lab_env, client, US_EAST, last_version, last)
    # Nothing lost: every version is in the ledger, and the clusters run the last one.
    assert [v.version for v in client.history(US_EAST, 4)] == [last_version, last_version - 1,
                                                               last_version - 2, r0.version]
    for c in clusters_of(lab_env, US_EAST):
        assert cr_spec(lab_env, c, f"RedisDatabase/sess-{uniq}").get("memoryMb") == 102

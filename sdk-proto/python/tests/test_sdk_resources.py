"""Resources validate the bounds of docs/design.md §7 when built; the ValueError names the
field."""

from __future__ import annotations

import dataclasses

import pytest

from senren import AerospikeCluster, AerospikeNamespace, RedisDatabase
from senren._convert import resource_from_pb, resource_to_pb
from senren.resources import validate_region


def ns(name: str = "users", **kw) -> AerospikeNamespace:
    kw.setdefault("memory_mb", 1024)
    return AerospikeNamespace(name, **kw)


def test_redis_defaults_and_ref() -> None:
    r = RedisDatabase("sessions", memory_mb=512)
    assert (r.replicas, r.version, r.persistence, r.eviction_policy) == (1, "7.2", "none", "")
    assert r.ref == "RedisDatabase/sessions"
    assert RedisDatabase.kind == "RedisDatabase"


def test_resources_are_frozen_and_comparable() -> None:
    r = RedisDatabase("sessions", memory_mb=512)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.memory_mb = 1024  # type: ignore[misc]
    assert r == RedisDatabase("sessions", memory_mb=512)
    assert hash(r) == hash(RedisDatabase("sessions", memory_mb=512))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"memory_mb": 15}, "memory_mb"),
        ({"memory_mb": 1048577}, "memory_mb"),
        ({"memory_mb": True}, "memory_mb"),
        ({"memory_mb": "512"}, "memory_mb"),
        ({"memory_mb": 512, "replicas": 0}, "replicas"),
        ({"memory_mb": 512, "replicas": 10}, "replicas"),
        ({"memory_mb": 512, "version": ""}, "version"),
        ({"memory_mb": 512, "version": "7.x"}, "version"),
        ({"memory_mb": 512, "version": "7."}, "version"),
        ({"memory_mb": 512, "persistence": "always"}, "persistence"),
        ({"memory_mb": 512, "eviction_policy": "lru"}, "eviction_policy"),
    ],
)
def test_redis_bounds_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"RedisDatabase sessions: {field}: "):
        RedisDatabase("sessions", **kwargs)


def test_redis_bounds_inclusive() -> None:
    RedisDatabase("a", memory_mb=16, replicas=1)
    RedisDatabase("b", memory_mb=1048576, replicas=9, version="7.2.4", persistence="aof",
                  eviction_policy="allkeys-lru")


@pytest.mark.parametrize("name", ["", "Sessions", "-a", "a-", "a_b", "a" * 64, "a.b", 7])
def test_names_are_dns1123_labels(name) -> None:
    with pytest.raises(ValueError, match="name: .* is not a DNS-1123 label"):
        RedisDatabase(name, memory_mb=512)


def test_name_of_63_is_fine() -> None:
    assert RedisDatabase("a" * 63, memory_mb=512).name == "a" * 63


def test_aerospike_defaults_and_tuple() -> None:
    a = AerospikeCluster("profiles", size=3, namespaces=[ns(replication_factor=2)])
    assert a.version == "7.1"
    assert isinstance(a.namespaces, tuple)
    assert a.namespaces[0].storage == "memory"
    assert a.ref == "AerospikeCluster/profiles"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"size": 0, "namespaces": [ns()]}, "size"),
        ({"size": 33, "namespaces": [ns()]}, "size"),
        ({"size": 3, "namespaces": []}, "namespaces"),
        ({"size": 3, "namespaces": "users"}, "namespaces"),
        ({"size": 3, "namespaces": [ns(), ns()]}, r"namespaces\[1\].name"),
        ({"size": 2, "namespaces": [ns(replication_factor=3)]}, r"namespaces\[0\].replication_factor"),
        ({"size": 3, "namespaces": [{"name": "users"}]}, r"namespaces\[0\]"),
        ({"size": 3, "namespaces": [ns()], "version": "seven"}, "version"),
    ],
)
def test_aerospike_bounds_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"AerospikeCluster profiles: {field}"):
        AerospikeCluster("profiles", **kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"memory_mb": 8}, "memory_mb"),
        ({"memory_mb": 1024, "replication_factor": 0}, "replication_factor"),
        ({"memory_mb": 1024, "storage": "disk"}, "storage"),
    ],
)
def test_namespace_bounds_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"AerospikeNamespace users: {field}: "):
        AerospikeNamespace("users", **kwargs)


@pytest.mark.parametrize("region", ["aws:us-east-1", "gcp:europe-west1", "x1:a"])
def test_region_keys(region: str) -> None:
    assert validate_region(region) == region


@pytest.mark.parametrize("region", ["", "aws", "AWS:us-east-1", "1aws:x", "aws:", "aws:us_east", "a:b:c"])
def test_bad_region_keys(region: str) -> None:
    with pytest.raises(ValueError, match="region: "):
        validate_region(region)


def test_proto_round_trip() -> None:
    for r in [
        RedisDatabase("sessions", memory_mb=512, replicas=3, version="7.2.4", persistence="rdb",
                      eviction_policy="volatile-ttl"),
        AerospikeCluster("profiles", size=3, version="7.1.0", namespaces=[
            ns(replication_factor=2), ns("events", memory_mb=16, storage="device")]),
    ]:
        assert resource_from_pb(resource_to_pb(r)) == r


def test_to_pb_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="not a Senren resource"):
        resource_to_pb({"kind": "RedisDatabase"})  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    import doctest

    import senren.resources

    result = doctest.testmod(senren.resources, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 5


def test_storage_fields_default_unset_and_round_trip() -> None:
    r = RedisDatabase("s", memory_mb=512, persistence="aof")
    assert (r.storage_gb, r.storage_class) == (0, "")  # derived size, the cluster's default class
    sized = RedisDatabase("s", memory_mb=512, persistence="aof", storage_gb=20, storage_class="ebs.csi.aws.com")
    assert resource_from_pb(resource_to_pb(sized)) == sized
    a = AerospikeCluster(
        "a", size=2, namespaces=[AerospikeNamespace("events", memory_mb=64, storage="device")],
        storage_gb=5, storage_class="local-path",
    )
    pb = resource_to_pb(a)
    assert (pb.aerospike_cluster.storage_gb, pb.aerospike_cluster.storage_class) == (5, "local-path")
    assert resource_from_pb(pb) == a


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"storage_gb": 65537}, "storage_gb"),
        ({"storage_gb": -1}, "storage_gb"),
        ({"storage_gb": True}, "storage_gb"),
        ({"storage_class": "Fast"}, "storage_class"),
        ({"storage_class": "a_b"}, "storage_class"),
    ],
)
def test_storage_bounds_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RedisDatabase("s", memory_mb=512, **kwargs)
    with pytest.raises(ValueError, match=field):
        AerospikeCluster("a", size=1, namespaces=[AerospikeNamespace("n", memory_mb=64)], **kwargs)

"""Typed resources of a region's desired state (docs/design.md §7).

Each resource is a frozen dataclass that checks the bounds of docs/design.md §7 when it is built,
so a mistake is caught on the line that makes it, not when the server answers::

    >>> from senren import RedisDatabase, AerospikeCluster, AerospikeNamespace
    >>> RedisDatabase("sessions", memory_mb=512, replicas=3, persistence="rdb")
    RedisDatabase(name='sessions', memory_mb=512, replicas=3, version='7.2', persistence='rdb', eviction_policy='', storage_gb=0, storage_class='')
    >>> AerospikeCluster("profiles", size=3,
    ...                  namespaces=[AerospikeNamespace("users", memory_mb=1024, replication_factor=2)]).ref
    'AerospikeCluster/profiles'
    >>> RedisDatabase("sessions", memory_mb=8)
    Traceback (most recent call last):
    ...
    ValueError: RedisDatabase sessions: memory_mb: 8 is out of bounds 16..1048576

The messages name the field the same way the server's INVALID_ARGUMENT does.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Sequence

__all__ = [
    "RedisDatabase",
    "AerospikeCluster",
    "AerospikeNamespace",
    "Resource",
    "REDIS_PERSISTENCE",
    "AEROSPIKE_STORAGE",
    "EVICTION_POLICIES",
    "validate_region",
]

# The one table of what a valid resource is (sdk-proto/senren/v1/rules.json), shipped in the
# package: the ledger compiles the same file in and the CRDs are checked against it.
_RULES: dict[str, Any] = json.loads(
    importlib.resources.files("senren").joinpath("_rules.json").read_text(encoding="utf-8")
)
_REDIS = _RULES["RedisDatabase"]
_AEROSPIKE = _RULES["AerospikeCluster"]
_NAMESPACE = _RULES["AerospikeNamespace"]

MIN_MEMORY_MB: int = _REDIS["memory_mb"]["minimum"]
MAX_MEMORY_MB: int = _REDIS["memory_mb"]["maximum"]
MAX_REDIS_REPLICAS: int = _REDIS["replicas"]["maximum"]
MAX_AEROSPIKE_SIZE: int = _AEROSPIKE["size"]["maximum"]

#: Values of ``RedisDatabase.persistence``.
REDIS_PERSISTENCE: tuple[str, ...] = tuple(_REDIS["persistence"]["enum"])
#: Values of ``AerospikeNamespace.storage``.
AEROSPIKE_STORAGE: tuple[str, ...] = tuple(_NAMESPACE["storage"]["enum"])
#: Values of ``RedisDatabase.eviction_policy`` (Redis' maxmemory-policy); "" = Redis' default.
EVICTION_POLICIES: tuple[str, ...] = tuple(_REDIS["eviction_policy"]["enum"])


class _Pattern:
    """A string rule of the table: an anchored pattern and a maximum length."""

    def __init__(self, rule: dict[str, Any]) -> None:
        self.text: str = rule["pattern"]
        self.max_length: int = rule["max_length"]
        self._re = re.compile(self.text)

    def matches(self, value: object) -> bool:
        # fullmatch: Python's "$" also matches before a final newline; the others' does not.
        return isinstance(value, str) and len(value) <= self.max_length and bool(self._re.fullmatch(value))


_NAME = _Pattern(_RULES["name"])
_REGION = _Pattern(_RULES["region"])
_REDIS_VERSION = _Pattern(_REDIS["version"])
_AEROSPIKE_VERSION = _Pattern(_AEROSPIKE["version"])
_NAMESPACE_NAME = _Pattern(_NAMESPACE["name"])

Persistence = Literal["none", "rdb", "aof"]
Storage = Literal["memory", "device"]


def validate_region(region: str) -> str:
    """Checks a region key ``cloud:region`` (e.g. ``aws:us-east-1``); returns it.

    Raises:
        ValueError: naming the field ``region`` when the key is malformed.
    """
    if not _REGION.matches(region):
        raise ValueError(
            f"region: {region!r} is not a region key cloud:region "
            f"({_REGION.text}, at most {_REGION.max_length} characters), e.g. 'aws:us-east-1'"
        )
    return region


def _fail(owner: str, fld: str, problem: str) -> ValueError:
    return ValueError(f"{owner}: {fld}: {problem}")


def _check_name(owner: str, fld: str, name: object, rule: _Pattern = _NAME) -> None:
    if not rule.matches(name):
        raise _fail(
            owner,
            fld,
            f"{name!r} is not a DNS-1123 label (a-z, 0-9, '-', starts and ends "
            "alphanumeric, at most 63 characters)",
        )


def _bounds(rule: dict[str, Any]) -> dict[str, int]:
    return {"minimum": rule["minimum"], "maximum": rule["maximum"]}


def _check_int(owner: str, fld: str, value: object, minimum: int, maximum: int, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(owner, fld, f"{value!r} is not an integer")
    if not minimum <= value <= maximum:
        raise _fail(owner, fld, f"{value} is out of bounds {minimum}..{maximum}{extra}")


def _check_version(owner: str, value: object, rule: _Pattern, example: str) -> None:
    if not rule.matches(value):
        raise _fail(
            owner,
            "version",
            f"{value!r} is not a version like {example!r} ({rule.text}, at most {rule.max_length} characters)",
        )


def _check_storage(owner: str, storage_gb: object, storage_class: object, rules: dict[str, Any]) -> None:
    # 0 and "" are unset: a size derived from memory, the cluster's default StorageClass.
    if storage_gb != 0 or isinstance(storage_gb, bool):
        _check_int(owner, "storage_gb", storage_gb, **_bounds(rules["storage_gb"]), extra=" (0: derived)")
    if storage_class != "":
        rule = _Pattern(rules["storage_class"])
        if not rule.matches(storage_class):
            raise _fail(
                owner,
                "storage_class",
                f"{storage_class!r} is not a StorageClass name ({rule.text}, at most {rule.max_length} characters)",
            )


def _check_choice(owner: str, fld: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise _fail(owner, fld, f"{value!r} is not one of {', '.join(choices)}")


class Resource:
    """Base of every resource kind (``RedisDatabase``, ``AerospikeCluster``).

    A list that mixes kinds is a ``list[Resource]`` for type checkers. Do not instantiate
    it: build one of the kinds.
    """

    #: The kind's name, as in ``"Kind/name"`` and the CRD (e.g. ``"RedisDatabase"``).
    kind: ClassVar[str] = ""
    name: str

    @property
    def ref(self) -> str:
        """The resource's name as results show it: ``"Kind/name"``."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RedisDatabase(Resource):
    """A Redis database (CRD ``RedisDatabase``).

    Args:
        name: DNS-1123 label, unique among the region's Redis databases.
        memory_mb: memory limit in MiB, 16..1048576.
        replicas: number of Redis pods, 1..9. Default: 1.
        version: Redis version such as ``"7.2"``. Default: ``"7.2"``.
        persistence: ``"none"``, ``"rdb"`` or ``"aof"``. Default: ``"none"``.
        eviction_policy: Redis maxmemory-policy (see ``EVICTION_POLICIES``); ``""`` keeps
            Redis' default (noeviction). Default: ``""``.
        storage_gb: GiB of each pod's data volume when persistence is ``"rdb"`` or
            ``"aof"``, 1..65536; ``0`` derives it from memory (ceil(2 × memory_mb / 1024)).
            Default: ``0``.
        storage_class: StorageClass of the data volumes; ``""`` is the cluster's default.
            Default: ``""``.

    Raises:
        ValueError: a value out of the bounds of docs/design.md §7; the message names the field.

    Example:
        >>> RedisDatabase("sessions", memory_mb=512, replicas=3).ref
        'RedisDatabase/sessions'
    """

    kind: ClassVar[str] = "RedisDatabase"

    name: str
    memory_mb: int
    replicas: int = _REDIS["replicas"]["default"]
    version: str = _REDIS["version"]["default"]
    persistence: Persistence = _REDIS["persistence"]["default"]
    eviction_policy: str = ""
    storage_gb: int = 0
    storage_class: str = ""

    def __post_init__(self) -> None:
        owner = f"RedisDatabase {self.name}"
        _check_name(f"RedisDatabase {self.name!r}", "name", self.name)
        _check_int(owner, "memory_mb", self.memory_mb, **_bounds(_REDIS["memory_mb"]))
        _check_int(owner, "replicas", self.replicas, **_bounds(_REDIS["replicas"]))
        _check_version(owner, self.version, _REDIS_VERSION, "7.2")
        _check_choice(owner, "persistence", self.persistence, REDIS_PERSISTENCE)
        if self.eviction_policy != "":
            _check_choice(owner, "eviction_policy", self.eviction_policy, EVICTION_POLICIES)
        _check_storage(owner, self.storage_gb, self.storage_class, _REDIS)


@dataclass(frozen=True)
class AerospikeNamespace:
    """One namespace of an :class:`AerospikeCluster`.

    Args:
        name: DNS-1123 label, unique within the cluster.
        memory_mb: memory for the namespace in MiB, 16..1048576.
        replication_factor: copies of each record, 1..size of the cluster (checked by
            the cluster). Default: 1.
        storage: ``"memory"`` or ``"device"``. Default: ``"memory"``.

    Raises:
        ValueError: a value out of bounds; the message names the field.

    Example:
        >>> AerospikeNamespace("users", memory_mb=1024, replication_factor=2)
        AerospikeNamespace(name='users', memory_mb=1024, replication_factor=2, storage='memory')
    """

    name: str
    memory_mb: int
    replication_factor: int = _NAMESPACE["replication_factor"]["default"]
    storage: Storage = _NAMESPACE["storage"]["default"]

    def __post_init__(self) -> None:
        owner = f"AerospikeNamespace {self.name}"
        _check_name(f"AerospikeNamespace {self.name!r}", "name", self.name, _NAMESPACE_NAME)
        _check_int(owner, "memory_mb", self.memory_mb, **_bounds(_NAMESPACE["memory_mb"]))
        # The upper bound is also the cluster's size, checked by AerospikeCluster.
        _check_int(owner, "replication_factor", self.replication_factor, **_bounds(_NAMESPACE["replication_factor"]))
        _check_choice(owner, "storage", self.storage, AEROSPIKE_STORAGE)


@dataclass(frozen=True)
class AerospikeCluster(Resource):
    """An Aerospike cluster (CRD ``AerospikeCluster``).

    Args:
        name: DNS-1123 label, unique among the region's Aerospike clusters.
        size: number of nodes, 1..32.
        namespaces: at least one :class:`AerospikeNamespace`, names unique; each
            ``replication_factor`` at most ``size``. Stored as a tuple.
        version: Aerospike server version such as ``"7.1"``. Default: ``"7.1"``.
        storage_gb: GiB of each node's data volume, holding the files of the ``"device"``
            namespaces, 1..65536; ``0`` derives it (4 × memory_mb per such namespace).
            Default: ``0``.
        storage_class: StorageClass of the data volumes; ``""`` is the cluster's default.
            Default: ``""``.

    Raises:
        ValueError: a value out of bounds; the message names the field, e.g.
            ``namespaces[0].replication_factor``.

    Example:
        >>> AerospikeCluster("profiles", size=3,
        ...                  namespaces=[AerospikeNamespace("users", memory_mb=1024)]).ref
        'AerospikeCluster/profiles'
    """

    kind: ClassVar[str] = "AerospikeCluster"

    name: str
    size: int
    namespaces: Sequence[AerospikeNamespace] = field(default_factory=tuple)
    version: str = _AEROSPIKE["version"]["default"]
    storage_gb: int = 0
    storage_class: str = ""

    def __post_init__(self) -> None:
        owner = f"AerospikeCluster {self.name}"
        _check_name(f"AerospikeCluster {self.name!r}", "name", self.name)
        _check_int(owner, "size", self.size, **_bounds(_AEROSPIKE["size"]))
        _check_version(owner, self.version, _AEROSPIKE_VERSION, "7.1")
        _check_storage(owner, self.storage_gb, self.storage_class, _AEROSPIKE)
        if isinstance(self.namespaces, (str, bytes)) or not isinstance(self.namespaces, Sequence):
            raise _fail(owner, "namespaces", "must be a list of AerospikeNamespace")
        namespaces = tuple(self.namespaces)
        object.__setattr__(self, "namespaces", namespaces)
        lo, hi = _AEROSPIKE["namespaces"]["min_items"], _AEROSPIKE["namespaces"]["max_items"]
        if not lo <= len(namespaces) <= hi:
            raise _fail(owner, "namespaces", f"{len(namespaces)} namespaces; between {lo} and {hi} are required")
        seen: set[str] = set()
        for i, ns in enumerate(namespaces):
            if not isinstance(ns, AerospikeNamespace):
                raise _fail(owner, f"namespaces[{i}]", f"{ns!r} is not an AerospikeNamespace")
            if ns.name in seen:
                raise _fail(owner, f"namespaces[{i}].name", f"duplicate namespace {ns.name!r}")
            seen.add(ns.name)
            _check_int(
                owner,
                f"namespaces[{i}].replication_factor",
                ns.replication_factor,
                1,
                self.size,
                " (1..size of the cluster)",
            )


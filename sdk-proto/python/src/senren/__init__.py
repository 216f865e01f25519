"""Senren: the desired state of Redis and Aerospike across Kubernetes clusters, from Python.

Describe the complete state of a region, apply it, wait until every cluster runs it::

    from senren import Client, RedisDatabase, AerospikeCluster, AerospikeNamespace

    with Client() as client:  # SENREN_ADDR / SENREN_TOKEN from the environment
        result = client.apply_state(
            "aws:us-east-1",
            [
                RedisDatabase("sessions", memory_mb=512, replicas=3, persistence="rdb"),
                AerospikeCluster("profiles", size=3, namespaces=[
                    AerospikeNamespace("users", memory_mb=1024, replication_factor=2)]),
            ],
            message="sessions and profiles",
        )
        status = client.wait_ready("aws:us-east-1", version=result.version, timeout=120)
        for r in status.resources:
            print(r.cluster, r.ref, r.host, r.port)

:class:`AsyncClient` is the asyncio twin of :class:`Client` (same calls, awaitable).
Errors are exceptions under :class:`SenrenError`, one per gRPC code, with the server's
message. See ``docs/python-sdk.md`` for the full guide.
"""

from ._async import AsyncClient, AsyncStatusWatch
from ._version import __version__
from .client import DEFAULT_ADDR, Client, History, StatusWatch
from .errors import (
    Cancelled,
    Conflict,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SenrenError,
    Timeout,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from .models import (
    ApplyResult,
    Blame,
    BlameField,
    ClusterStatus,
    Counts,
    Plan,
    RegionStatus,
    RegionSummary,
    ResourceChange,
    ResourceStatus,
    State,
    StatusEvent,
    Version,
)
from .resources import AerospikeCluster, AerospikeNamespace, RedisDatabase, Resource

__all__ = [
    "__version__",
    "Client",
    "History",
    "StatusWatch",
    "AsyncClient",
    "AsyncStatusWatch",
    "DEFAULT_ADDR",
    # resources
    "RedisDatabase",
    "AerospikeCluster",
    "AerospikeNamespace",
    "Resource",
    # results
    "ApplyResult",
    "Blame",
    "BlameField",
    "Plan",
    "ResourceChange",
    "State",
    "Version",
    "Counts",
    "RegionStatus",
    "ClusterStatus",
    "ResourceStatus",
    "RegionSummary",
    "StatusEvent",
    # errors
    "SenrenError",
    "InvalidArgument",
    "NotFound",
    "Conflict",
    "Unavailable",
    "Unauthenticated",
    "PermissionDenied",
    "FailedPrecondition",
    "ResourceExhausted",
    "Timeout",
    "Cancelled",
    "Unimplemented",
    "InternalError",
]

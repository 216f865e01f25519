"""Exceptions of the Senren SDK: one hierarchy under :class:`SenrenError`.

Every gRPC status code the server can answer maps to one class (see ``CODE_TO_ERROR``),
and the exception's message is the server's message, unchanged::

    try:
        client.apply_state("aws:us-east-1", resources, expected_version=7)
    except senren.Conflict as e:          # ABORTED: version 7 is no longer current
        print(e.code, e)                   # "ABORTED", the server's message
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import grpc

if TYPE_CHECKING:  # pragma: no cover
    from .models import RegionStatus

__all__ = [
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
    "CODE_TO_ERROR",
    "from_rpc_error",
]


class SenrenError(Exception):
    """Base of every error the SDK raises.

    Attributes:
        code: the gRPC status code's name (``"NOT_FOUND"``, …), or ``""`` for an error the
            SDK raised itself (such as a :class:`Timeout` of ``wait_ready``).
        message: the server's message (also ``str(error)``).
    """

    code: str

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class InvalidArgument(SenrenError):
    """INVALID_ARGUMENT or OUT_OF_RANGE: a request the server refused; the message names the field."""


class NotFound(SenrenError):
    """NOT_FOUND: no such region or version."""


class Conflict(SenrenError):
    """ABORTED (or ALREADY_EXISTS): ``expected_version`` is not the region's current version.

    Read the state again, rebuild what to apply, and apply with the new version.
    """


class Unavailable(SenrenError):
    """UNAVAILABLE: the server or its store cannot answer now; idempotent calls were retried."""


class Unauthenticated(SenrenError):
    """UNAUTHENTICATED: no token, or a token the server does not know (SENREN_TOKEN)."""


class PermissionDenied(SenrenError):
    """PERMISSION_DENIED: the token's role may not do this (e.g. a reader applying)."""


class FailedPrecondition(SenrenError):
    """FAILED_PRECONDITION: the empty-state or mass-delete guard; the message names the count.

    Pass ``allow_empty=True`` or ``allow_mass_delete=True`` if the deletion is meant.
    """


class ResourceExhausted(SenrenError):
    """RESOURCE_EXHAUSTED: the request is too large or the server is overloaded."""


class Timeout(SenrenError):
    """DEADLINE_EXCEEDED, or ``wait_ready`` ran out of time.

    Attributes:
        not_ready: from ``wait_ready``, one line per cluster or resource still not
            ready (also in the message).
        status: from ``wait_ready``, the region's status as last seen.
    """

    def __init__(
        self,
        message: str,
        code: str = "",
        not_ready: Optional[Sequence[str]] = None,
        status: Optional["RegionStatus"] = None,
    ) -> None:
        super().__init__(message, code)
        self.not_ready: list[str] = list(not_ready or [])
        self.status = status


class Cancelled(SenrenError):
    """CANCELLED: the call was cancelled (by the client or the server shutting down)."""


class Unimplemented(SenrenError):
    """UNIMPLEMENTED: the server does not offer this call (an older or partial server)."""


class InternalError(SenrenError):
    """INTERNAL, UNKNOWN or DATA_LOSS: a bug or broken invariant on the server."""


#: gRPC status code → exception class; every code other than OK is here.
CODE_TO_ERROR: dict[grpc.StatusCode, type[SenrenError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DATA_LOSS: InternalError,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def from_rpc_error(err: grpc.RpcError) -> SenrenError:
    """The :class:`SenrenError` for a failed gRPC call, with the server's message."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else None
    cls = CODE_TO_ERROR.get(code, InternalError)
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    return cls(details or name, name)

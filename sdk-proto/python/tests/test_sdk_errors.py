"""Every gRPC status code maps to one SenrenError subclass, with the server's message."""

from __future__ import annotations

import grpc
import pytest
from fake_server import FakeServer

import senren
from senren import Client
from senren.errors import CODE_TO_ERROR

EXPECTED = {
    "CANCELLED": senren.Cancelled,
    "UNKNOWN": senren.InternalError,
    "INVALID_ARGUMENT": senren.InvalidArgument,
    "DEADLINE_EXCEEDED": senren.Timeout,
    "NOT_FOUND": senren.NotFound,
    "ALREADY_EXISTS": senren.Conflict,
    "PERMISSION_DENIED": senren.PermissionDenied,
    "RESOURCE_EXHAUSTED": senren.ResourceExhausted,
    "FAILED_PRECONDITION": senren.FailedPrecondition,
    "ABORTED": senren.Conflict,
    "OUT_OF_RANGE": senren.InvalidArgument,
    "UNIMPLEMENTED": senren.Unimplemented,
    "INTERNAL": senren.InternalError,
    "UNAVAILABLE": senren.Unavailable,
    "DATA_LOSS": senren.InternalError,
    "UNAUTHENTICATED": senren.Unauthenticated,
}


def test_every_code_but_ok_is_mapped() -> None:
    codes = {c for c in grpc.StatusCode if c is not grpc.StatusCode.OK}
    assert set(CODE_TO_ERROR) == codes
    assert {c.name for c in codes} == set(EXPECTED)


@pytest.mark.parametrize("code_name", sorted(EXPECTED))
def test_code_maps_with_the_servers_message(code_name: str, client: Client, server: FakeServer) -> None:
    code = grpc.StatusCode[code_name]
    message = f"server says: {code_name.lower()} — act on this"
    # UNAVAILABLE is retried: fail more often than the client retries.
    server.servicer.fail("ListRegions", code, times=20, message=message)
    with pytest.raises(EXPECTED[code_name]) as e:
        client.regions()
    assert isinstance(e.value, senren.SenrenError)
    assert str(e.value) == message and e.value.message == message
    assert e.value.code == code_name


def test_hierarchy() -> None:
    for cls in set(EXPECTED.values()):
        assert issubclass(cls, senren.SenrenError)
    assert issubclass(senren.SenrenError, Exception)
    t = senren.Timeout("x", not_ready=["prod: has not reported"])
    assert t.not_ready == ["prod: has not reported"] and t.status is None and t.code == ""


def test_every_public_name_has_a_docstring() -> None:
    for name in senren.__all__:
        obj = getattr(senren, name)
        if name in ("__version__", "DEFAULT_ADDR"):
            continue
        assert (obj.__doc__ or "").strip(), name
    for cls in (senren.Client, senren.AsyncClient, senren.StatusWatch, senren.AsyncStatusWatch):
        for name in dir(cls):
            if not name.startswith("_"):
                assert (getattr(cls, name).__doc__ or "").strip(), f"{cls.__name__}.{name}"

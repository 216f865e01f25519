"""AsyncClient: the asyncio twin of :class:`senren.Client` (as httpx pairs Client and
AsyncClient). Same calls, same arguments, same results and errors; awaitable.

    >>> async with AsyncClient() as client:
    ...     r = await client.apply_state("aws:us-east-1", [RedisDatabase("sessions", memory_mb=512)])
    ...     status = await client.wait_ready("aws:us-east-1", version=r.version)
    ...     async with client.watch_status("aws:us-east-1") as events:
    ...         async for e in events:
    ...             print(e)
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Sequence, TextIO, TypeVar

import grpc
import grpc.aio

from . import _common
from . import _convert as conv
from ._pb.v1 import control_plane_pb2 as cp
from ._pb.v1 import control_plane_pb2_grpc as cp_grpc
from ._wait import ProgressLine, ReadinessTracker
from .errors import Timeout, Unavailable, from_rpc_error
from .models import ApplyResult, Blame, Plan, RegionStatus, RegionSummary, State, StatusEvent, Version
from .resources import Resource, validate_region

__all__ = ["AsyncClient", "AsyncStatusWatch"]

_T = TypeVar("_T")


class _NeedState(Exception):
    """Raised by the tracker's state_at when a state must be fetched first (async)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


class AsyncClient:
    """A connection to a Senren control plane for asyncio code.

    Arguments, defaults, retries and errors are those of :class:`senren.Client`; every
    call is a coroutine, ``watch_status`` an async iterator. Create it inside a running
    event loop and use it from that loop; ``async with`` closes it.

    Example:
        >>> async with AsyncClient() as client:
        ...     for v in await client.history("aws:us-east-1", limit=5):
        ...         print(v.version, v.message)
    """

    def __init__(
        self,
        addr: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: float = 30.0,
        retries: int = 8,
        author: Optional[str] = None,
        tls: Optional[bool] = None,
        root_certificates: Optional[bytes] = None,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
        insecure: bool = False,
        _sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        _random: Callable[[], float] = random.random,
    ) -> None:
        self._settings = _common.Settings(
            addr, token, timeout, retries, author, tls, root_certificates, private_key,
            certificate_chain, _random, insecure,
        )
        self.addr: str = self._settings.addr
        self.timeout = self._settings.timeout
        self.retries = self._settings.retries
        self.author = author
        self._sleep = _sleep
        self._metadata = self._settings.metadata
        creds, options = self._settings.credentials, self._settings.options
        if creds is not None:
            self._channel = grpc.aio.secure_channel(self.addr, creds, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(self.addr, options=options)
        self._stub = cp_grpc.ControlPlaneStub(self._channel)  # type: ignore[no-untyped-call]
        self._closed = False

    async def close(self) -> None:
        """Closes the channel; calls made after it fail. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._channel.close(None)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient({self.addr!r})"

    async def _call(
        self, method: Callable[..., Any], request: Any, *, idempotent: bool, timeout: Optional[float] = None
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            try:
                return await method(request, timeout=max(remaining, 0.001), metadata=self._metadata)
            except grpc.RpcError as e:
                if idempotent and e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    delay = self._settings.backoff(attempt)
                    if loop.time() + delay < deadline:
                        await self._sleep(delay)
                        attempt += 1
                        continue
                raise from_rpc_error(e) from None

    async def apply_state(
        self,
        region: str,
        resources: Iterable[Resource],
        *,
        message: str = "",
        expected_version: Optional[int] = None,
        idempotency_key: Optional[str] = None,
        allow_empty: bool = False,
        allow_mass_delete: bool = False,
        author: Optional[str] = None,
    ) -> ApplyResult:
        """As :meth:`senren.Client.apply_state` (always sends an idempotency key, so its
        retries after UNAVAILABLE are safe)."""
        req = _common.apply_request(region, resources, expected_version, allow_empty, allow_mass_delete)
        req.message = message
        req.author = author or self.author or ""
        req.idempotency_key = idempotency_key or _common.new_idempotency_key()
        return conv.apply_result_from_pb(await self._call(self._stub.ApplyState, req, idempotent=True))

    async def plan_state(
        self,
        region: str,
        resources: Iterable[Resource],
        *,
        expected_version: Optional[int] = None,
        allow_empty: bool = False,
        allow_mass_delete: bool = False,
    ) -> Plan:
        """As :meth:`senren.Client.plan_state`: the diff against the current version; nothing written."""
        req = _common.apply_request(region, resources, expected_version, allow_empty, allow_mass_delete)
        req.dry_run = True
        return conv.plan_from_pb(await self._call(self._stub.PlanState, req, idempotent=True))

    async def rollback(
        self,
        region: str,
        to_version: int,
        *,
        message: str = "",
        author: Optional[str] = None,
        expected_version: Optional[int] = None,
        allow_empty: bool = False,
        allow_mass_delete: bool = False,
    ) -> ApplyResult:
        """As :meth:`senren.Client.rollback`: a new version with ``to_version``'s resources; not retried."""
        req = _common.rollback_request(
            region, to_version, message, author or self.author or "", expected_version,
            allow_empty, allow_mass_delete,
        )
        return conv.apply_result_from_pb(await self._call(self._stub.Rollback, req, idempotent=False))

    async def get_state(
        self, region: str, version: Optional[int] = None, *, at: Optional[datetime] = None
    ) -> State:
        """As :meth:`senren.Client.get_state`."""
        req = _common.state_request(region, version, at)
        return conv.state_from_pb(await self._call(self._stub.GetState, req, idempotent=True))

    async def get_status(
        self, region: str, at: Optional[datetime] = None, *, resource: Optional[str] = None
    ) -> RegionStatus:
        """As :meth:`senren.Client.get_status`."""
        req = _common.status_request(region, at, resource)
        return conv.region_status_from_pb(await self._call(self._stub.GetStatus, req, idempotent=True))

    async def history(
        self,
        region: str,
        limit: Optional[int] = 20,
        *,
        resource: Optional[str] = None,
        author: Optional[str] = None,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        origin: Optional[str] = None,
    ) -> list[Version]:
        """As :meth:`senren.Client.history`, read whole: newest first; ``limit=None`` = all."""
        req = _common.history_request(region, resource, author, since, until, origin)
        out: list[Version] = []
        token = ""
        while limit is None or len(out) < limit:
            req.page_size = 1000 if limit is None else min(1000, limit - len(out))
            req.page_token = token
            resp = await self._call(self._stub.GetHistory, req, idempotent=True)
            out.extend(conv.history_page_from_pb(resp))
            token = resp.next_page_token
            if not token or not resp.versions:
                break
        return out if limit is None else out[:limit]

    async def blame(
        self, region: str, kind: str, name: str, version: Optional[int] = None
    ) -> Blame:
        """As :meth:`senren.Client.blame`."""
        validate_region(region)
        req = cp.BlameRequest(region=region, resource=f"{kind}/{name}", version=int(version or 0))
        return conv.blame_from_pb(await self._call(self._stub.Blame, req, idempotent=True))

    async def diff(self, region: str, from_version: int, to_version: int) -> Plan:
        """As :meth:`senren.Client.diff`."""
        validate_region(region)
        req = cp.DiffVersionsRequest(region=region, from_version=int(from_version), to_version=int(to_version))
        return conv.diff_from_pb(await self._call(self._stub.DiffVersions, req, idempotent=True))

    async def regions(self) -> list[RegionSummary]:
        """As :meth:`senren.Client.regions`."""
        resp = await self._call(self._stub.ListRegions, cp.ListRegionsRequest(), idempotent=True)
        return [conv.region_summary_from_pb(r) for r in resp.regions]

    def watch_status(
        self, region: str, from_version: int = 0, *, timeout: Optional[float] = None
    ) -> "AsyncStatusWatch":
        """As :meth:`senren.Client.watch_status`: ``async for`` the events; ``cancel()`` to stop."""
        validate_region(region)
        return AsyncStatusWatch(self, region, int(from_version), timeout)

    async def wait_ready(
        self,
        region: str,
        version: Optional[int] = None,
        timeout: float = 120.0,
        *,
        clusters: Optional[Sequence[str]] = None,
        progress: Optional[bool] = None,
        out: Optional[TextIO] = None,
    ) -> RegionStatus:
        """As :meth:`senren.Client.wait_ready`: follows WatchStatus until every cluster
        applied ``version`` and runs every resource ready; :class:`senren.Timeout` names
        what is not."""
        validate_region(region)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        out = out if out is not None else sys.stderr
        try:
            show = progress if progress is not None else out.isatty()
        except (AttributeError, ValueError):
            show = bool(progress)

        def remaining() -> float:
            return deadline - loop.time()

        if version is None:
            version = (await self.get_state(region)).version
        states: dict[int, State] = {}

        def state_at(v: int) -> State:
            if v not in states:
                raise _NeedState(v)
            return states[v]

        tracker = ReadinessTracker(region, int(version), clusters, state_at)

        async def settle() -> None:
            while True:
                try:
                    tracker.flush()
                    return
                except _NeedState as need:
                    states[need.version] = await self.get_state(region, need.version)

        async def timed_out() -> Timeout:
            await settle()
            return _common.wait_timeout(tracker, timeout)

        line = ProgressLine(out) if show else None
        attempt = 0
        try:
            while True:
                if remaining() <= 0:
                    raise await timed_out()
                call = self._stub.WatchStatus(
                    cp.WatchStatusRequest(region=region, from_version=int(version)),
                    timeout=remaining(),
                    metadata=self._metadata,
                )
                try:
                    status = await self._call(
                        self._stub.GetStatus,
                        cp.GetStatusRequest(region=region),
                        idempotent=True,
                        timeout=max(0.001, min(self.timeout, remaining())),
                    )
                    tracker.load(conv.region_status_from_pb(status))
                    await settle()
                    if line:
                        line.show(tracker)
                    if tracker.ready():
                        return tracker.status()
                    async for m in call:
                        attempt = 0
                        if tracker.apply(conv.status_event_from_pb(m)):
                            await settle()
                            if line:
                                line.show(tracker)
                            if tracker.ready():
                                return tracker.status()
                    raise Unavailable("the status stream ended", "UNAVAILABLE")
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise await timed_out() from None
                    if e.code() not in _common.REOPEN_CODES:
                        raise from_rpc_error(e) from None
                except Unavailable:
                    pass
                except Timeout:
                    if remaining() <= 0:
                        raise await timed_out() from None
                    raise
                finally:
                    call.cancel()
                delay = min(self._settings.backoff(attempt), max(0.0, remaining()))
                attempt += 1
                await self._sleep(delay)
        finally:
            if line:
                line.done()


class AsyncStatusWatch(AsyncIterator[StatusEvent]):
    """The stream of :meth:`AsyncClient.watch_status`: ``async for`` its events.

    Opening is retried after UNAVAILABLE until the first event; ``cancel()`` (or leaving
    ``async with``) ends the iteration.
    """

    def __init__(self, client: AsyncClient, region: str, from_version: int, timeout: Optional[float]) -> None:
        self._client = client
        self._region = region
        self._from_version = from_version
        self._timeout = timeout
        self._deadline: Optional[float] = None
        self._cancelled = False
        self._received = 0
        self._call: Any = None

    def _open(self) -> None:
        loop = asyncio.get_running_loop()
        if self._timeout is not None and self._deadline is None:
            self._deadline = loop.time() + self._timeout
        timeout = None if self._deadline is None else max(0.001, self._deadline - loop.time())
        self._call = self._client._stub.WatchStatus(
            cp.WatchStatusRequest(region=self._region, from_version=self._from_version),
            timeout=timeout,
            metadata=self._client._metadata,
        )

    def __aiter__(self) -> "AsyncStatusWatch":
        return self

    async def __anext__(self) -> StatusEvent:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            if self._cancelled:
                raise StopAsyncIteration
            if self._call is None:
                self._open()
            try:
                m = await self._call.read()
            except asyncio.CancelledError:
                if self._cancelled:
                    raise StopAsyncIteration from None
                raise
            except grpc.RpcError as e:
                if self._cancelled:
                    raise StopAsyncIteration from None
                retry = (
                    e.code() == grpc.StatusCode.UNAVAILABLE
                    and self._received == 0
                    and attempt < self._client.retries
                )
                if retry:
                    delay = self._client._settings.backoff(attempt)
                    if self._deadline is None or loop.time() + delay < self._deadline:
                        await self._client._sleep(delay)
                        attempt += 1
                        self._call = None
                        continue
                raise from_rpc_error(e) from None
            if m is grpc.aio.EOF:  # type: ignore[attr-defined]
                raise StopAsyncIteration
            self._received += 1
            return conv.status_event_from_pb(m)

    def cancel(self) -> None:
        """Ends the stream; a pending ``async for`` stops."""
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    async def __aenter__(self) -> "AsyncStatusWatch":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

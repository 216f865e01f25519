"""The Senren client: every call of the ``senren.v1.ControlPlane`` API (docs/design.md §8, §13).

    >>> from senren import Client, RedisDatabase
    >>> with Client() as client:                      # SENREN_ADDR, SENREN_TOKEN
    ...     result = client.apply_state("aws:us-east-1", [RedisDatabase("sessions", memory_mb=512)],
    ...                                 message="sessions cache")
    ...     status = client.wait_ready("aws:us-east-1", version=result.version, timeout=120)
    ...     for r in status.resources:
    ...         print(r.cluster, r.ref, r.host, r.port)
"""

from __future__ import annotations

import random
import sys
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TextIO, TypeVar

import grpc

from . import _common
from . import _convert as conv
from ._common import DEFAULT_ADDR
from ._pb.v1 import control_plane_pb2 as cp
from ._pb.v1 import control_plane_pb2_grpc as cp_grpc
from ._wait import ProgressLine, ReadinessTracker
from .errors import Timeout, Unavailable, from_rpc_error
from .models import (
    ApplyResult,
    Blame,
    Plan,
    RegionStatus,
    RegionSummary,
    State,
    StatusEvent,
    Version,
)
from .resources import Resource, validate_region

__all__ = ["Client", "History", "StatusWatch", "DEFAULT_ADDR"]

_T = TypeVar("_T")


class Client:
    """A connection to a Senren control plane (``senren-ledger serve``).

    Args:
        addr: ``"host:port"`` of the control plane. Default: ``$SENREN_ADDR``, else
            ``127.0.0.1:57070``.
        token: bearer token (docs/design.md §14). Default: ``$SENREN_TOKEN``; without one the
            server answers :class:`senren.Unauthenticated`.
        timeout: deadline in seconds of each call, retries included. Default: 30.
        retries: how many times a call that may be repeated safely is retried after
            UNAVAILABLE, with exponential backoff (0.1 s doubling, at most 2 s, jittered)
            inside the deadline. Default: 8.
        author: recorded with the versions this client writes. Default: the server
            records the token's subject.
        tls: use TLS. Default: True when ``root_certificates`` is given or
            ``$SENREN_TLS_CA`` names a CA file, else False (plain text, as in the lab).
        root_certificates, private_key, certificate_chain: PEM bytes for TLS and mutual
            TLS; ``root_certificates`` defaults to the file ``$SENREN_TLS_CA``.
        insecure: allow sending the token in plain text to an address that is not a
            loopback one. Default: False: a client with a token and without TLS raises
            ``ValueError`` (saying how to give a CA) unless ``addr`` is ``localhost``,
            127.0.0.0/8 or ``::1``, as in the lab.

    The client is thread-safe and holds one gRPC channel; use it as a context manager or
    call :meth:`close`. Which calls are retried: every read, ``plan_state``, ``wait_ready``,
    the opening of ``watch_status``, and ``apply_state`` (its idempotency key makes a
    repeat return the first answer); ``rollback`` is not retried.

    Example:
        >>> with Client("127.0.0.1:57070", token="…") as client:
        ...     print([r.region for r in client.regions()])
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
        _sleep: Callable[[float], None] = time.sleep,
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
            self._channel = grpc.secure_channel(self.addr, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(self.addr, options=options)
        self._stub = cp_grpc.ControlPlaneStub(self._channel)  # type: ignore[no-untyped-call]
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Closes the channel; calls made after it fail. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.addr!r})"

    # ------------------------------------------------------------------ plumbing

    def _backoff(self, attempt: int) -> float:
        return self._settings.backoff(attempt)

    def _call(
        self,
        method: Callable[..., _T],
        request: Any,
        *,
        idempotent: bool,
        timeout: Optional[float] = None,
    ) -> _T:
        """Runs a unary call with the client's deadline; retries UNAVAILABLE if idempotent."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            try:
                return method(request, timeout=max(remaining, 0.001), metadata=self._metadata)
            except grpc.RpcError as e:
                if idempotent and e.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    delay = self._backoff(attempt)
                    if time.monotonic() + delay < deadline:
                        self._sleep(delay)
                        attempt += 1
                        continue
                raise from_rpc_error(e) from None

    # ------------------------------------------------------------------ commands

    def apply_state(
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
        """Replaces the complete resource set of ``region``; anything not listed is deleted.

        A new version is written only if the state differs from the current one
        (``result.changed``). Every call carries an idempotency key — the one given, or a
        fresh random one — so a retry after UNAVAILABLE (the server may have written the
        version before the connection dropped) returns the first answer instead of writing
        twice. Pass your own key to make repeats of the same logical change safe across
        processes too.

        Args:
            region: region key ``cloud:region``, e.g. ``"aws:us-east-1"``.
            resources: the complete desired set (RedisDatabase, AerospikeCluster).
            message: recorded with the version.
            expected_version: apply only if this is the region's current version
                (0 = the region has no version yet); else :class:`senren.Conflict`.
            idempotency_key: a key seen before for this region returns the first answer.
            allow_empty: required to delete every resource of a non-empty region.
            allow_mass_delete: required to delete more than the mass-delete share
                (default: over 50 % of a region with ≥ 10 resources).
            author: recorded with the version. Default: the client's ``author``, else the
                token's subject.

        Returns:
            ApplyResult(version, changed, created, updated, deleted) with ``"Kind/name"`` names.

        Raises:
            ValueError: a malformed region, a duplicate (kind, name) or a non-resource.
            senren.Conflict: ``expected_version`` is not current.
            senren.FailedPrecondition: the empty or mass-delete guard.
            senren.InvalidArgument, senren.PermissionDenied, senren.Unauthenticated,
            senren.Unavailable: as the server answers.

        Example:
            >>> client.apply_state("aws:us-east-1", [RedisDatabase("sessions", memory_mb=512)],
            ...                    message="add sessions")
            ApplyResult(version=1, changed=True, created=['RedisDatabase/sessions'], ...)
        """
        req = _common.apply_request(
            region, resources, expected_version, allow_empty, allow_mass_delete
        )
        req.message = message
        req.author = author or self.author or ""
        req.idempotency_key = idempotency_key or _common.new_idempotency_key()
        resp = self._call(self._stub.ApplyState, req, idempotent=True)
        return conv.apply_result_from_pb(resp)

    def plan_state(
        self,
        region: str,
        resources: Iterable[Resource],
        *,
        expected_version: Optional[int] = None,
        allow_empty: bool = False,
        allow_mass_delete: bool = False,
    ) -> Plan:
        """What :meth:`apply_state` would change, against which version; nothing is written.

        Apply with ``expected_version=plan.base_version`` to apply exactly this plan (or get
        :class:`senren.Conflict` if someone applied in between).

        Returns:
            Plan(base_version, created, updated, deleted, changes).

        Raises:
            As :meth:`apply_state` (the guards are checked too).

        Example:
            >>> plan = client.plan_state("aws:us-east-1", resources)
            >>> if plan.deleted: print("would delete", plan.deleted)
            >>> client.apply_state("aws:us-east-1", resources, expected_version=plan.base_version)
        """
        req = _common.apply_request(
            region, resources, expected_version, allow_empty, allow_mass_delete
        )
        req.dry_run = True
        resp = self._call(self._stub.PlanState, req, idempotent=True)
        return conv.plan_from_pb(resp)

    def rollback(
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
        """Appends a NEW version whose resources equal ``to_version``'s; history is kept.

        Not retried after UNAVAILABLE (a rollback carries no idempotency key): on
        :class:`senren.Unavailable`, look at :meth:`history` before trying again, or pass
        ``expected_version`` so that a repeat cannot roll back twice.

        Returns:
            ApplyResult of the new version.

        Raises:
            senren.NotFound: no such version. Others as :meth:`apply_state`.

        Example:
            >>> client.rollback("aws:us-east-1", 3, message="v4 broke checkout")
        """
        req = _common.rollback_request(
            region, to_version, message, author or self.author or "", expected_version,
            allow_empty, allow_mass_delete,
        )
        resp = self._call(self._stub.Rollback, req, idempotent=False)
        return conv.apply_result_from_pb(resp)

    # ------------------------------------------------------------------ queries

    def get_state(
        self, region: str, version: Optional[int] = None, *, at: Optional[datetime] = None
    ) -> State:
        """The region's desired state at ``version`` (default: the current one), or the
        version that was current ``at`` a time.

        Args:
            region: the region key.
            version: a version number; None = the current one.
            at: a ``datetime`` (naive = local time): the newest version created at or
                before it. Not together with ``version``.

        Returns:
            State(version, resources, …); version 0 and no resources when the region has
            no version yet.

        Raises:
            senren.NotFound: no such version, or the region had no version yet ``at``.

        Example:
            >>> client.get_state("aws:us-east-1").resources
            [RedisDatabase(name='sessions', memory_mb=512, ...)]
            >>> client.get_state("aws:us-east-1", at=datetime(2026, 11, 26, 18, tzinfo=timezone.utc))
        """
        req = _common.state_request(region, version, at)
        return conv.state_from_pb(self._call(self._stub.GetState, req, idempotent=True))

    def get_status(
        self, region: str, at: Optional[datetime] = None, *, resource: Optional[str] = None
    ) -> RegionStatus:
        """What every cluster of ``region`` reports, now or at a past time.

        Args:
            region: the region key.
            at: a ``datetime`` (naive = local time): the desired version and the reported
                status as they were then.
            resource: only this resource, ``"Kind/name"`` or ``"name"``.

        Returns:
            RegionStatus(clusters, resources, desired_version, …).

        Example:
            >>> for r in client.get_status("aws:us-east-1").resources:
            ...     print(r.cluster, r.ref, r.ready, r.host, r.port)
        """
        req = _common.status_request(region, at, resource)
        return conv.region_status_from_pb(self._call(self._stub.GetStatus, req, idempotent=True))

    def history(
        self,
        region: str,
        limit: Optional[int] = 20,
        *,
        resource: Optional[str] = None,
        author: Optional[str] = None,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        origin: Optional[str] = None,
        page_size: int = 100,
    ) -> "History":
        """The region's versions, newest first, fetched a page at a time as they are read.

        Args:
            region: the region key.
            limit: at most this many versions; None = all.
            resource: only the versions that changed this ``"Kind/name"``; each Version then
                carries ``change`` (created / updated / deleted, before and after) and
                ``changed_fields``.
            author: only the versions recorded with this author.
            since, until: only versions created in this time range (both ends included;
                naive = local time).
            origin: ``"apply"`` or ``"rollback"``; None = both.
            page_size: versions per call (at most 1000). Pages are positions in the
                region's versions, so versions appended while you read never repeat or
                shift one.

        Returns:
            History: iterate it (pages are fetched lazily), or index it / take ``len()``
            (reads up to ``limit``); ``History.pages()`` yields one list per call.

        Example:
            >>> for v in client.history("aws:us-east-1", limit=5):
            ...     print(v.version, v.origin, v.author, v.message, v.counts)
            >>> for v in client.history("aws:us-east-1", None, resource="RedisDatabase/sessions"):
            ...     print(v.version, v.author, v.change.type, v.changed_fields)
        """
        req = _common.history_request(region, resource, author, since, until, origin)

        def fetch(token: str, size: int) -> cp.GetHistoryResponse:
            page = cp.GetHistoryRequest()
            page.CopyFrom(req)
            page.page_size = size
            page.page_token = token
            return self._call(self._stub.GetHistory, page, idempotent=True)

        history = History(fetch, limit, page_size)
        history._more()  # errors (NotFound, PermissionDenied, …) surface at the call
        return history

    def blame(
        self, region: str, kind: str, name: str, version: Optional[int] = None
    ) -> Blame:
        """Each spec field of one resource with the version, author and time that last set it.

        Args:
            region: the region key.
            kind, name: the resource, e.g. ``"RedisDatabase"``, ``"sessions"``.
            version: as of this version; None = the current one.

        Raises:
            senren.NotFound: the resource does not exist at that version.

        Example:
            >>> b = client.blame("aws:us-east-1", "RedisDatabase", "sessions")
            >>> for f in b.fields:
            ...     print(f.field, f.value, f.set_by.version, f.set_by.author, f.set_by.time)
        """
        validate_region(region)
        req = cp.BlameRequest(region=region, resource=f"{kind}/{name}", version=int(version or 0))
        return conv.blame_from_pb(self._call(self._stub.Blame, req, idempotent=True))

    def diff(self, region: str, from_version: int, to_version: int) -> Plan:
        """Per-resource changes from ``from_version`` to ``to_version`` (0 = the empty state).

        Returns:
            Plan with ``base_version = from_version`` and ``to_version``.

        Example:
            >>> d = client.diff("aws:us-east-1", 3, 4)
            >>> for c in d.changes: print(c.type, c.ref, c.before, "->", c.after)
        """
        validate_region(region)
        req = cp.DiffVersionsRequest(
            region=region, from_version=int(from_version), to_version=int(to_version)
        )
        return conv.diff_from_pb(self._call(self._stub.DiffVersions, req, idempotent=True))

    def regions(self) -> list[RegionSummary]:
        """Every region with its current version, clusters and convergence.

        Example:
            >>> for r in client.regions():
            ...     print(r.region, r.current_version, f"{r.clusters_converged}/{len(r.clusters)}")
        """
        resp = self._call(self._stub.ListRegions, cp.ListRegionsRequest(), idempotent=True)
        return [conv.region_summary_from_pb(r) for r in resp.regions]

    # ------------------------------------------------------------------ status stream

    def watch_status(
        self, region: str, from_version: int = 0, *, timeout: Optional[float] = None
    ) -> "StatusWatch":
        """Status changes of ``region`` as they arrive (a server stream).

        Args:
            region: the region key.
            from_version: 0 = from now; otherwise replay the changes reported for versions
                ≥ this first.
            timeout: end the stream after this many seconds (raises
                :class:`senren.Timeout`). Default: never.

        Returns:
            A :class:`StatusWatch`: iterate it for :class:`senren.StatusEvent`; ``cancel()``
            or leave its ``with`` block to stop. Opening the stream is retried after
            UNAVAILABLE; a stream broken later raises :class:`senren.Unavailable` (watch
            again with ``from_version`` to resume).

        Example:
            >>> with client.watch_status("aws:us-east-1") as events:
            ...     for e in events:
            ...         if e.resource: print(e.resource.cluster, e.resource.ref, e.resource.phase)
        """
        validate_region(region)
        return StatusWatch(self, region, int(from_version), timeout)

    def wait_ready(
        self,
        region: str,
        version: Optional[int] = None,
        timeout: float = 120.0,
        *,
        clusters: Optional[Sequence[str]] = None,
        progress: Optional[bool] = None,
        out: Optional[TextIO] = None,
    ) -> RegionStatus:
        """Waits until every cluster of ``region`` applied ``version`` and every resource is ready.

        Follows WatchStatus (no polling): opens the stream, reads the current status once,
        then applies each event until the region is ready. A resource counts as ready in a
        cluster when the cluster applied ``version`` (or later), its status says ready, and
        that status is for the resource's spec at ``version`` (its ``state_version`` is
        ``version`` or later, or a version whose spec of it is the same). When a later
        version was applied meanwhile, a cluster that applied it is checked against that
        later state (``version`` is superseded, not lost). A broken stream (server
        restart) is reopened with backoff inside ``timeout``.

        Args:
            region: the region key.
            version: the version to wait for. Default: the region's current version.
            timeout: seconds to wait in all. Default: 120.
            clusters: clusters that must report; default: every cluster that has reported
                for the region (at least one).
            progress: show a progress line (resources ready / total per cluster) on
                ``out``. Default: when ``out`` is a terminal.
            out: where progress goes. Default: ``sys.stderr``.

        Returns:
            The region's status when ready.

        Raises:
            senren.Timeout: not ready in time; its message and ``not_ready`` name each
                cluster and resource still not ready, and why.
            senren.NotFound: no such version.

        Example:
            >>> r = client.apply_state(region, resources)
            >>> status = client.wait_ready(region, version=r.version, timeout=120)
        """
        validate_region(region)
        deadline = time.monotonic() + timeout
        out = out if out is not None else sys.stderr
        show = progress if progress is not None else _isatty(out)

        def remaining() -> float:
            return deadline - time.monotonic()

        def state_at(v: int) -> State:
            return self.get_state(region, v)

        if version is None:
            version = self._call(
                self._stub.GetState,
                cp.GetStateRequest(region=region),
                idempotent=True,
                timeout=max(0.001, min(self.timeout, remaining())),
            ).version
        tracker = ReadinessTracker(region, int(version), clusters, state_at)
        line = ProgressLine(out) if show else None
        attempt = 0
        try:
            while True:
                if remaining() <= 0:
                    raise self._wait_timeout(tracker, timeout)
                stream = self._stub.WatchStatus(
                    cp.WatchStatusRequest(region=region, from_version=int(version)),
                    timeout=remaining(),
                    metadata=self._metadata,
                )
                try:
                    status = self._call(
                        self._stub.GetStatus,
                        cp.GetStatusRequest(region=region),
                        idempotent=True,
                        timeout=max(0.001, min(self.timeout, remaining())),
                    )
                    tracker.load(conv.region_status_from_pb(status))
                    if line:
                        line.show(tracker)
                    if tracker.ready():
                        return tracker.status()
                    for m in stream:
                        attempt = 0
                        if tracker.apply(conv.status_event_from_pb(m)):
                            if line:
                                line.show(tracker)
                            if tracker.ready():
                                return tracker.status()
                    # The server ended the stream (shutting down): reopen it.
                    raise Unavailable("the status stream ended", "UNAVAILABLE")
                except grpc.RpcError as e:
                    err = from_rpc_error(e)
                    if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                        raise self._wait_timeout(tracker, timeout) from None
                    if e.code() not in _common.REOPEN_CODES:
                        raise err from None
                except Unavailable:
                    pass
                except Timeout:
                    if remaining() <= 0:
                        raise self._wait_timeout(tracker, timeout) from None
                    raise
                finally:
                    stream.cancel()
                delay = min(self._backoff(attempt), max(0.0, remaining()))
                attempt += 1
                self._sleep(delay)
        finally:
            if line:
                line.done()

    def _wait_timeout(self, tracker: ReadinessTracker, timeout: float) -> Timeout:
        return _common.wait_timeout(tracker, timeout)


class History(Sequence[Version]):
    """Versions of a region, newest first (``Client.history``), read a page at a time.

    Iterating fetches the next page only when the versions read so far are used up;
    ``len()``, indexing and slicing read up to the limit first. Versions already read are
    kept, so iterating twice calls the server once.
    """

    def __init__(
        self,
        fetch: Callable[[str, int], cp.GetHistoryResponse],
        limit: Optional[int],
        page_size: int,
    ) -> None:
        self._fetch = fetch
        self._limit = limit
        self._page_size = max(1, min(1000, int(page_size)))
        self._items: list[Version] = []
        self._pages: list[list[Version]] = []
        self._token = ""
        self._done = limit is not None and limit <= 0

    def _more(self) -> bool:
        """Reads one more page; False when there is nothing more."""
        if self._done:
            return False
        size = self._page_size
        if self._limit is not None:
            size = min(size, self._limit - len(self._items))
        resp = self._fetch(self._token, size)
        page = conv.history_page_from_pb(resp)
        if self._limit is not None:
            page = page[: self._limit - len(self._items)]
        self._items.extend(page)
        self._pages.append(page)
        self._token = resp.next_page_token
        if (
            not self._token
            or not page
            or (self._limit is not None and len(self._items) >= self._limit)
        ):
            self._done = True
        return bool(page)

    def pages(self) -> Iterator[list[Version]]:
        """Yields the versions one server page at a time."""
        i = 0
        while True:
            while i < len(self._pages):
                yield self._pages[i]
                i += 1
            if not self._more():
                return

    def __iter__(self) -> Iterator[Version]:
        for page in self.pages():
            yield from page

    def _all(self) -> list[Version]:
        while self._more():
            pass
        return self._items

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if isinstance(i, int) and i >= 0:
            while len(self._items) <= i and self._more():
                pass
            return self._items[i]
        return self._all()[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, History)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"History({self._all()!r})"


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


class StatusWatch(Iterator[StatusEvent]):
    """The stream of :meth:`Client.watch_status`: an iterator of :class:`senren.StatusEvent`.

    Iterate it in one thread; :meth:`cancel` may be called from any thread and ends the
    iteration (``StopIteration``). Also a context manager that cancels on exit.
    """

    def __init__(
        self, client: Client, region: str, from_version: int, timeout: Optional[float]
    ) -> None:
        self._client = client
        self._region = region
        self._from_version = from_version
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._lock = threading.Lock()
        self._cancelled = False
        self._received = 0
        self._call: Any = None
        self._open()

    def _open(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            timeout = None if self._deadline is None else max(0.001, self._deadline - time.monotonic())
            self._call = self._client._stub.WatchStatus(
                cp.WatchStatusRequest(region=self._region, from_version=self._from_version),
                timeout=timeout,
                metadata=self._client._metadata,
            )

    def __iter__(self) -> "StatusWatch":
        return self

    def __next__(self) -> StatusEvent:
        attempt = 0
        while True:
            if self._cancelled:
                raise StopIteration
            try:
                m = next(self._call)
            except StopIteration:
                raise
            except grpc.RpcError as e:
                if self._cancelled:
                    raise StopIteration from None
                retry = (
                    e.code() == grpc.StatusCode.UNAVAILABLE
                    and self._received == 0
                    and attempt < self._client.retries
                )
                if retry:
                    delay = self._client._backoff(attempt)
                    if self._deadline is None or time.monotonic() + delay < self._deadline:
                        self._client._sleep(delay)
                        attempt += 1
                        self._open()
                        continue
                raise from_rpc_error(e) from None
            self._received += 1
            return conv.status_event_from_pb(m)

    def cancel(self) -> None:
        """Ends the stream; a blocked iteration stops with StopIteration."""
        with self._lock:
            self._cancelled = True
            if self._call is not None:
                self._call.cancel()

    def __enter__(self) -> "StatusWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()



"""What Client and AsyncClient share: settings from the environment, channel options,
backoff, request building and the Timeout of wait_ready. No I/O."""

from __future__ import annotations

import ipaddress
import os
import uuid
from datetime import datetime
from typing import Any, Callable, Iterable, Optional

import grpc

from . import _convert as conv
from ._pb.v1 import control_plane_pb2 as cp
from ._version import __version__
from ._wait import ReadinessTracker
from .errors import Timeout
from .resources import Resource, validate_region

#: Address used when neither ``addr`` nor ``SENREN_ADDR`` is given (the lab's ledger).
DEFAULT_ADDR = "127.0.0.1:57070"

# Large states (up to 100,000 resources) travel in one message.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024

Metadata = tuple[tuple[str, str], ...]


class Settings:
    """A client's resolved settings: address, auth metadata, deadline, retries, channel."""

    def __init__(
        self,
        addr: Optional[str],
        token: Optional[str],
        timeout: float,
        retries: int,
        author: Optional[str],
        tls: Optional[bool],
        root_certificates: Optional[bytes],
        private_key: Optional[bytes],
        certificate_chain: Optional[bytes],
        rand: Callable[[], float],
        insecure: bool = False,
    ) -> None:
        self.addr: str = addr or os.environ.get("SENREN_ADDR") or DEFAULT_ADDR
        token = token if token is not None else os.environ.get("SENREN_TOKEN")
        self.metadata: Metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.author = author
        self.random = rand
        ca_file = os.environ.get("SENREN_TLS_CA")
        if root_certificates is None and ca_file and tls is not False:
            with open(ca_file, "rb") as f:
                root_certificates = f.read()
        if tls is None:
            tls = root_certificates is not None
        self.credentials: Optional[grpc.ChannelCredentials] = (
            grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            if tls
            else None
        )
        if self.credentials is None and self.metadata and not insecure and not is_loopback(self.addr):
            raise ValueError(plaintext_token_error(self.addr))
        self.options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", f"senren-python/{__version__}"),
        ]

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based): 0.1 s doubling, ≤ 2 s, jittered 50–100 %."""
        base = min(2.0, 0.1 * (2**attempt))
        return float(base * (0.5 + 0.5 * self.random()))


def target_hosts(addr: str) -> Optional[list[str]]:
    """The host names or addresses a gRPC target dials, or None for a Unix socket.

    Accepts ``host:port``, ``[v6]:port``, a bare host, ``dns:[//authority/]host:port`` and
    ``ipv4:``/``ipv6:`` lists (``ipv4:127.0.0.1:1,127.0.0.2:1``).
    """
    a = addr.strip()
    if a.startswith(("unix:", "unix-abstract:")):
        return None
    lists = False
    for scheme in ("dns:", "ipv4:", "ipv6:"):
        if a.startswith(scheme):
            a = a[len(scheme):]
            lists = scheme != "dns:"
            if a.startswith("//"):  # dns://authority/host:port: the authority is the resolver
                a = a[2:].partition("/")[2]
            break
    hosts = []
    for part in a.split(",") if lists else [a]:
        part = part.strip()
        if part.startswith("["):
            hosts.append(part[1:].partition("]")[0])
        elif part.count(":") == 1:
            hosts.append(part.rpartition(":")[0])
        else:  # a bare host, or a bare IPv6 address
            hosts.append(part)
    return hosts


def is_loopback(addr: str) -> bool:
    """True when every host of the gRPC target ``addr`` is on this machine: ``localhost``,
    127.0.0.0/8, ``::1`` (or a Unix socket). Names are not resolved: a name other than
    ``localhost`` counts as remote, whatever it resolves to today.
    """
    hosts = target_hosts(addr)
    if hosts is None:
        return True
    if not hosts:
        return False
    for host in hosts:
        if host.lower().rstrip(".") == "localhost":
            continue
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        if not (ip.is_loopback or (mapped is not None and mapped.is_loopback)):
            return False
    return True


def plaintext_token_error(addr: str) -> str:
    """Why a client refuses to start: what to pass for TLS, or how to accept plain text."""
    return (
        f"refusing to send the bearer token in plain text to {addr}, which is not a loopback "
        "address: give the CA that signed the server's certificate "
        "(root_certificates=open('ca.crt', 'rb').read(), or the file's path in $SENREN_TLS_CA; "
        "tls=True verifies with the system's roots), or insecure=True to send the token "
        "unencrypted anyway"
    )


def apply_request(
    region: str,
    resources: Iterable[Resource],
    expected_version: Optional[int],
    allow_empty: bool,
    allow_mass_delete: bool,
) -> cp.ApplyStateRequest:
    validate_region(region)
    if isinstance(resources, (str, bytes)):
        raise ValueError("resources: must be a list of resources, not a string")
    items = list(resources)
    seen: dict[str, int] = {}
    for i, r in enumerate(items):
        ref = getattr(r, "ref", None)
        if isinstance(ref, str):
            if ref in seen:
                raise ValueError(f"resources[{i}]: duplicate {ref} (also resources[{seen[ref]}])")
            seen[ref] = i
    req = cp.ApplyStateRequest(
        region=region,
        resources=conv.resources_to_pb(items),
        allow_empty=allow_empty,
        allow_mass_delete=allow_mass_delete,
    )
    if expected_version is not None:
        req.expected_version = int(expected_version)
    return req


def new_idempotency_key() -> str:
    """A fresh key per apply_state call, so that its retries are answered, not re-applied."""
    return f"py-{uuid.uuid4()}"


def rollback_request(
    region: str,
    to_version: int,
    message: str,
    author: str,
    expected_version: Optional[int],
    allow_empty: bool,
    allow_mass_delete: bool,
) -> cp.RollbackRequest:
    validate_region(region)
    req = cp.RollbackRequest(
        region=region,
        to_version=int(to_version),
        author=author,
        message=message,
        allow_empty=allow_empty,
        allow_mass_delete=allow_mass_delete,
    )
    if expected_version is not None:
        req.expected_version = int(expected_version)
    return req


def status_request(region: str, at: Optional[datetime], resource: Optional[str]) -> cp.GetStatusRequest:
    validate_region(region)
    req = cp.GetStatusRequest(region=region, resource=resource or "")
    if at is not None:
        req.at.CopyFrom(conv.ts_to_pb(at))
    return req


def wait_timeout(tracker: ReadinessTracker, timeout: float) -> Timeout:
    """The Timeout of wait_ready: names every cluster and resource still not ready."""
    missing = tracker.not_ready()
    head = f"{tracker.region} version {tracker.version} not ready after {timeout:g} s"
    shown = missing[:20] + ([f"… and {len(missing) - 20} more"] if len(missing) > 20 else [])
    return Timeout(head + ":\n  " + "\n  ".join(shown), "", not_ready=missing, status=tracker.status())


#: Stream errors after which wait_ready reads the status again on a new stream: the
#: server went away, or the stream fell too far behind.
REOPEN_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def history_request(
    region: str,
    resource: Optional[str],
    author: Optional[str],
    since: Optional[datetime],
    until: Optional[datetime],
    origin: Optional[str],
) -> cp.GetHistoryRequest:
    """GetHistory's filters (no page yet); ValueError for an unknown origin."""
    validate_region(region)
    if origin not in (None, "apply", "rollback"):
        raise ValueError(f"origin: {origin!r} is not 'apply' or 'rollback'")
    req = cp.GetHistoryRequest(
        region=region,
        resource=resource or "",
        author=author or "",
        origin={None: 0, "apply": 1, "rollback": 2}[origin],
    )
    if since is not None:
        req.since.CopyFrom(conv.ts_to_pb(since))
    if until is not None:
        req.until.CopyFrom(conv.ts_to_pb(until))
    return req


def state_request(region: str, version: Optional[int], at: Optional[datetime]) -> cp.GetStateRequest:
    """GetState at a version or a time; ValueError when both are given."""
    validate_region(region)
    if version and at is not None:
        raise ValueError("get_state: give version or at, not both")
    req = cp.GetStateRequest(region=region, version=int(version or 0))
    if at is not None:
        req.at.CopyFrom(conv.ts_to_pb(at))
    return req

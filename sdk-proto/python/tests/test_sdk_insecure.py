"""Safe defaults (docs/design.md §14): a client never sends its bearer token in plain text
to an address off this machine unless told to (``insecure=True``); loopback stays plain
so the lab works without certificates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fake_server import WRITER, FakeServer

import senren
from senren._common import is_loopback, target_hosts

# TEST-NET-1 (RFC 5737): never routed, so nothing real is ever reached.
REMOTE = "192.0.2.1:57070"


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1:57070",
        "127.8.9.10:1",
        "localhost:57070",
        "LOCALHOST.:57070",
        "localhost",
        "[::1]:57070",
        "::1",
        "[::ffff:127.0.0.1]:57070",
        "dns:///localhost:57070",
        "dns://8.8.8.8/127.0.0.1:57070",
        "ipv4:127.0.0.1:1,127.0.0.2:2",
        "ipv6:[::1]:57070",
        "unix:/run/senren.sock",
        "unix:///run/senren.sock",
    ],
)
def test_loopback_targets(addr: str) -> None:
    assert is_loopback(addr)


@pytest.mark.parametrize(
    "addr",
    [
        REMOTE,
        "10.0.0.1:57070",
        "ledger.example.com:443",
        "ledger.example.com",
        "localhost.example.com:57070",
        "127.0.0.1.nip.io:57070",
        "[2001:db8::1]:57070",
        "2001:db8::1",
        "[::ffff:10.0.0.1]:57070",
        "dns:///ledger.example.com:443",
        "dns://127.0.0.1/ledger.example.com:443",  # the resolver is local, the server is not
        "ipv4:127.0.0.1:1,10.0.0.1:2",  # one remote address is enough
        "0.0.0.0:57070",
        ":57070",
    ],
)
def test_remote_targets(addr: str) -> None:
    assert not is_loopback(addr)


def test_target_hosts_reads_every_form() -> None:
    assert target_hosts("[::1]:1") == ["::1"]
    assert target_hosts("dns:///a.example:1") == ["a.example"]
    assert target_hosts("ipv4:10.0.0.1:1,10.0.0.2:2") == ["10.0.0.1", "10.0.0.2"]
    assert target_hosts("unix:/x.sock") is None


def test_a_token_in_plain_text_to_a_remote_address_is_refused(monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)
    with pytest.raises(ValueError) as e:
        senren.Client(REMOTE, token=WRITER)
    msg = str(e.value)
    assert "refusing to send the bearer token in plain text to 192.0.2.1:57070" in msg
    assert "root_certificates=" in msg and "$SENREN_TLS_CA" in msg  # how to give a CA
    assert "insecure=True" in msg
    # tls=False says "no TLS", not "send my token anyway".
    with pytest.raises(ValueError, match="insecure=True"):
        senren.Client(REMOTE, token=WRITER, tls=False)
    # The token from the environment counts as much as the argument.
    monkeypatch.setenv("SENREN_TOKEN", WRITER)
    monkeypatch.setenv("SENREN_ADDR", "ledger.example.com:443")
    with pytest.raises(ValueError, match="ledger.example.com:443"):
        senren.Client()


def test_the_async_client_refuses_alike(monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)

    async def make() -> None:
        async with senren.AsyncClient(REMOTE, token=WRITER):
            pass

    with pytest.raises(ValueError, match="insecure=True"):
        asyncio.run(make())


def test_insecure_true_sends_in_plain_text(monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)
    # Built, and the call really goes out (and finds nobody at TEST-NET-1).
    with senren.Client(REMOTE, token=WRITER, insecure=True, retries=0, timeout=1) as c:
        with pytest.raises((senren.Unavailable, senren.Timeout)):
            c.regions()


def test_tls_or_no_token_to_a_remote_address_is_allowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)
    monkeypatch.delenv("SENREN_TOKEN", raising=False)
    senren.Client(REMOTE, token=WRITER, tls=True).close()  # the system's roots
    senren.Client(REMOTE, token=WRITER, root_certificates=b"-----BEGIN CERTIFICATE-----\n").close()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SENREN_TLS_CA", str(ca))
    senren.Client(REMOTE, token=WRITER).close()
    monkeypatch.delenv("SENREN_TLS_CA")
    senren.Client(REMOTE).close()  # no token: nothing secret to protect


def test_loopback_stays_plain_without_the_flag(server: FakeServer, monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)
    port = server.addr.rpartition(":")[2]
    for addr in (server.addr, f"localhost:{port}", f"ipv4:127.0.0.1:{port}"):
        with senren.Client(addr, token=WRITER, timeout=5) as c:
            assert c.regions() == []

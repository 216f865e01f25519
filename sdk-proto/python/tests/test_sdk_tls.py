"""TLS (docs/design.md §14): the client verifies the server with root_certificates or
$SENREN_TLS_CA."""

from __future__ import annotations

import subprocess
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from fake_server import WRITER, FakeControlPlane

import senren
from senren._pb.v1 import control_plane_pb2_grpc as cp_grpc


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True)
    return (d / "key.pem").read_bytes(), (d / "cert.pem").read_bytes()


@pytest.fixture
def tls_addr(cert: tuple[bytes, bytes]):
    key, crt = cert
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    cp_grpc.add_ControlPlaneServicer_to_server(FakeControlPlane(), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, crt)]))
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_tls_with_root_certificates(tls_addr: str, cert: tuple[bytes, bytes]) -> None:
    with senren.Client(tls_addr, token=WRITER, root_certificates=cert[1]) as c:
        assert c.regions() == []


def test_tls_ca_from_environment(tls_addr: str, cert: tuple[bytes, bytes], tmp_path: Path, monkeypatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cert[1])
    monkeypatch.setenv("SENREN_TLS_CA", str(ca))
    with senren.Client(tls_addr, token=WRITER) as c:
        assert c.get_state("aws:us-east-1").version == 0


def test_plain_text_client_cannot_talk_to_a_tls_server(tls_addr: str, monkeypatch) -> None:
    monkeypatch.delenv("SENREN_TLS_CA", raising=False)
    with senren.Client(tls_addr, token=WRITER, retries=1, timeout=3, _sleep=lambda s: None) as c:
        with pytest.raises(senren.Unavailable):
            c.regions()

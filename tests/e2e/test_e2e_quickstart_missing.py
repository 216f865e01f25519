"""examples/quickstart.py exits 1 with a message naming the missing part (no lab needed:
an unused port, and the SDK's fake ControlPlane with no cluster reporting)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import e2e_lab

sys.path.insert(0, str(e2e_lab.ROOT / "sdk-proto" / "python" / "tests"))
from fake_server import WRITER, FakeServer  # noqa: E402

QUICKSTART = e2e_lab.ROOT / "examples" / "quickstart.py"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENREN_")}
    return subprocess.run([sys.executable, str(QUICKSTART), *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_token() -> None:
    p = run({"SENREN_ADDR": "127.0.0.1:1"})
    assert p.returncode == 1 and "SENREN_TOKEN is not set" in p.stderr


def test_ledger_not_answering() -> None:
    p = run({"SENREN_ADDR": f"127.0.0.1:{free_port()}", "SENREN_TOKEN": "x"})
    assert p.returncode == 1
    assert "senren-ledger does not answer at 127.0.0.1:" in p.stderr


def test_bad_token() -> None:
    server = FakeServer()
    try:
        p = run({"SENREN_ADDR": server.addr, "SENREN_TOKEN": "wrong"})
    finally:
        server.stop()
    assert p.returncode == 1 and "the control plane refused SENREN_TOKEN" in p.stderr


def test_no_regional_plane(tmp_path: Path) -> None:
    server = FakeServer()
    try:
        p = run({"SENREN_ADDR": server.addr, "SENREN_TOKEN": WRITER}, "--timeout", "1")
    finally:
        server.stop()
    assert p.returncode == 1
    assert "is senren-regional running for every cluster?" in p.stderr
    assert "prod: has not reported" in p.stderr and "shadow: has not reported" in p.stderr

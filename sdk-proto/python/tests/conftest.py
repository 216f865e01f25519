"""Fixtures of the SDK's unit tests: an in-process fake ControlPlane on 127.0.0.1:0."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from fake_server import WRITER, FakeServer  # noqa: E402

import senren  # noqa: E402


class Sleeps(list):
    """Records the backoff delays instead of sleeping (fast, deterministic tests)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    yield s
    s.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(server: FakeServer, sleeps: Sleeps) -> Iterator[senren.Client]:
    c = senren.Client(server.addr, token=WRITER, timeout=5, _sleep=sleeps, _random=lambda: 1.0)
    yield c
    c.close()

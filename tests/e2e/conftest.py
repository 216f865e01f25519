"""End-to-end tests on the real lab (docs/design.md §10). They never skip and are never
deselected: a test the lab cannot serve fails, naming the lab part that is missing.

Markers say what a test needs (e2e_fault: it stops lab parts; those run last):
  e2e_ledger  the control plane's API only (senren-ledger in the lab)
  e2e_full    the whole path: ledger, projectors, Kafka, regional planes, controllers
Before the first such test, `tools/lab status` is read once; a test whose part is down
(or not built) fails at setup with the part's name.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import e2e_lab  # noqa: E402

import senren  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e_ledger: needs senren-ledger in the lab")
    config.addinivalue_line("markers", "e2e_full: needs every lab daemon, regional planes included")
    config.addinivalue_line("markers", "e2e_fault: stops and restarts a lab part (runs last)")


def _order(item: pytest.Item) -> int:
    if item.get_closest_marker("e2e_fault"):
        return 3
    if item.get_closest_marker("e2e_full"):
        return 2
    return 1 if item.get_closest_marker("e2e_ledger") else 0


_STATUS: "e2e_lab.LabStatus | None" = None


def lab_status() -> e2e_lab.LabStatus:
    global _STATUS
    if _STATUS is None:
        _STATUS = e2e_lab.status()
    return _STATUS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Unit tests, then the API, then the whole path, then the tests that stop lab parts:
    # a fault test's aftermath never fails a test that has nothing to do with it.
    items.sort(key=_order)


def missing_parts(item: pytest.Item) -> list[str]:
    """The lab parts `item` needs that `tools/lab status` does not show up (empty: none)."""
    if item.get_closest_marker("e2e_full"):
        st = lab_status()
        if st.full:
            return []
        if st.not_up():
            return st.not_up()
        if st.exit_code != 0:
            return [f"a cluster without schedulable nodes (tools/lab status exit {st.exit_code}):\n{st.text}"]
        return ["every senren-regional plane"]
    if item.get_closest_marker("e2e_ledger"):
        st = lab_status()
        return [] if st.up("senren-ledger") else ["senren-ledger"]
    return []


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = missing_parts(item)
    if missing:
        pytest.fail(f"the lab cannot serve this test: down or not built: {', '.join(missing)} "
                    f"(tools/lab status; tools/lab up starts what is down)", pytrace=False)


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    """The lab's environment; fails (never skips) when the lab is not up."""
    try:
        return e2e_lab.env()
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"the lab is not up: {e}")


@pytest.fixture
def client(lab_env: dict[str, str]) -> Iterator[senren.Client]:
    with senren.Client(lab_env["SENREN_ADDR"], token=lab_env["SENREN_TOKEN"], timeout=30) as c:
        yield c


@pytest.fixture
def region() -> str:
    """A region of its own for a ledger-only test: no regional plane serves it."""
    return f"e2e:t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def uniq() -> str:
    """A short unique suffix for resource names of one test."""
    return uuid.uuid4().hex[:6]

"""End-to-end tests on the real lab (SPEC §10). They never skip: a test the lab cannot
serve fails.

Markers say what a test needs (e2e_fault: it stops lab parts; those run last):
  e2e_ledger  the control plane's API only (senren-ledger in the lab)
  e2e_full    the whole path: ledger, projectors, Kafka, regional planes, controllers
Tests whose part is not in the lab yet are deselected (not skipped, not run): e2e_ledger
while the lab has no senren-ledger built, e2e_full unless `tools/lab status` exits 0 and
lists live senren-regional planes. The count is printed.
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
    mine = [i for i in items if i.get_closest_marker("e2e_full") or i.get_closest_marker("e2e_ledger")]
    if not mine:
        return
    st = lab_status()
    keep, drop = [], {"e2e_full": [], "e2e_ledger": []}
    for item in items:
        if item.get_closest_marker("e2e_full") and not st.full:
            drop["e2e_full"].append(item)
        elif item.get_closest_marker("e2e_ledger") and not st.built("senren-ledger"):
            drop["e2e_ledger"].append(item)
        else:
            keep.append(item)
    dropped = drop["e2e_full"] + drop["e2e_ledger"]
    if not dropped:
        return
    config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    tr = config.pluginmanager.get_plugin("terminalreporter")
    say = tr.write_line if tr else print
    if drop["e2e_full"]:
        say(
            f"tests/e2e: deselected {len(drop['e2e_full'])} e2e_full tests: the lab does not run every "
            f"daemon yet (tools/lab status exit {st.exit_code}, live regional planes: "
            f"{len(st.regional_planes_up())})"
        )
    if drop["e2e_ledger"]:
        say(f"tests/e2e: deselected {len(drop['e2e_ledger'])} e2e_ledger tests: senren-ledger is not built")


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

"""How tests/e2e decides what the lab can serve (no lab needed: parses sample tables)."""

from __future__ import annotations

import e2e_lab

HEAD = "PART                                           PID      ADDRESS                HEALTH     RSS\n"


def row(part: str, pid: str, addr: str, health: str) -> str:
    return f"{part:<46} {pid:<8} {addr:<22} {health:<10} 1 MiB\n"


def test_full_lab() -> None:
    text = HEAD + row("postgres", "1", "127.0.0.1:55432", "up") + row(
        "senren-ledger", "2", "127.0.0.1:57070", "up") + row(
        "senren-regional-aws-us-east-1-prod", "3", "-", "up")
    st = e2e_lab.parse_status(text, 0)
    assert st.full and st.built("senren-ledger") and st.up("senren-ledger")
    assert st.regional_planes_up() == ["senren-regional-aws-us-east-1-prod"]


def test_daemon_readiness() -> None:
    text = HEAD + row("senren-ledger", "2", "127.0.0.1:57071", "ready") + row(
        "senren-regional-aws-us-east-1-prod", "3", "127.0.0.1:57076", "not ready") + row(
        "senren-regional-aws-us-east-1-shadow", "4", "127.0.0.1:57077", "ready")
    st = e2e_lab.parse_status(text, 1)
    assert st.up("senren-ledger") and not st.full
    assert st.parts["senren-regional-aws-us-east-1-prod"].health == "unhealthy"
    assert st.regional_planes_up() == ["senren-regional-aws-us-east-1-shadow"]


def test_not_built_parts() -> None:
    text = HEAD + row("senren-ledger", "-", "-", "not built") + row("senren-regional", "-", "-", "not built")
    st = e2e_lab.parse_status(text, 0)
    assert not st.full and not st.built("senren-ledger")
    assert st.parts["senren-ledger"].pid is None


def test_a_part_down_is_not_full() -> None:
    text = HEAD + row("kafka", "-", "127.0.0.1:59092", "down") + row(
        "senren-regional-aws-us-east-1-prod", "3", "-", "up")
    assert not e2e_lab.parse_status(text, 1).full

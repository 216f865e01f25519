"""The SDK refuses exactly what the ledger and the clusters refuse.

Its bounds come from the rules table (sdk-proto/senren/v1/rules.json, shipped in the
package); the edge cases of tests/rules/cases.json are the same ones the ledger's
validation (common/test/rules_test.cc) and a real kube-apiserver (tests/kube/crd_test.cc)
are held to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import senren
from senren import AerospikeCluster, AerospikeNamespace, RedisDatabase, resources

ROOT = Path(__file__).resolve().parents[3]
CASES = json.loads((ROOT / "tests" / "rules" / "cases.json").read_text())["cases"]
TABLE = json.loads((ROOT / "sdk-proto" / "senren" / "v1" / "rules.json").read_text())


def build(case: dict[str, Any]) -> senren.Resource:
    spec = dict(case["spec"])
    if case["kind"] == "RedisDatabase":
        return RedisDatabase(case["name"], **spec)
    namespaces = [AerospikeNamespace(**ns) for ns in spec.pop("namespaces")]
    return AerospikeCluster(case["name"], namespaces=namespaces, **spec)


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_edge_case_agrees_with_the_table(case: dict[str, Any]) -> None:
    if case["valid"]:
        build(case)
    else:
        with pytest.raises(ValueError):
            build(case)


def test_the_installed_table_is_the_repository_s() -> None:
    assert resources._RULES == TABLE


def test_defaults_come_from_the_table() -> None:
    r = RedisDatabase("r", memory_mb=64)
    assert r.replicas == TABLE["RedisDatabase"]["replicas"]["default"]
    assert r.version == TABLE["RedisDatabase"]["version"]["default"]
    assert r.persistence == TABLE["RedisDatabase"]["persistence"]["default"]
    ns = AerospikeNamespace("users", memory_mb=64)
    assert ns.storage == TABLE["AerospikeNamespace"]["storage"]["default"]
    assert ns.replication_factor == TABLE["AerospikeNamespace"]["replication_factor"]["default"]
    a = AerospikeCluster("a", size=1, namespaces=[ns])
    assert a.version == TABLE["AerospikeCluster"]["version"]["default"]

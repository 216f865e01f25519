#!/usr/bin/env python3
"""Senren quickstart: a Redis and an Aerospike in aws:us-east-1, end to end.

Applies the state, waits until both clusters of the region run it ready and prints
host and port per cluster, shows the history, applies a change, rolls it back and shows
the history again. `tools/lab up` runs it last; by hand:

    eval "$(tools/lab env)" && "$(tools/python-env)" examples/quickstart.py

Uses only the names of docs/design.md §13. Exits 1 with a message saying which part is missing
when the lab cannot serve a step.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence

try:
    from senren import (
        AerospikeCluster,
        AerospikeNamespace,
        Client,
        RedisDatabase,
        RegionStatus,
        Resource,
        SenrenError,
        Timeout,
        Unauthenticated,
        Unavailable,
        Unimplemented,
    )
except ImportError as e:  # pragma: no cover - a setup problem, said plainly
    sys.exit(f"quickstart: the senren SDK is not installed ({e}); run tools/python-env "
             "and use .venv/bin/python, or pip install ./sdk-proto/python")


def fail(what: str, err: BaseException) -> NoReturn:
    detail = str(err).replace("\n", "\n  ")
    print(f"\nquickstart: {what}:\n  {detail}", file=sys.stderr)
    sys.exit(1)


def show_status(status: RegionStatus, resources: Sequence[Resource]) -> None:
    print(f"  {'CLUSTER':<10} {'RESOURCE':<28} {'READY':<6} {'HOST:PORT'}")
    for r in resources:
        for s in sorted(status.resource(r.ref), key=lambda s: s.cluster):
            print(f"  {s.cluster:<10} {s.ref:<28} {'yes' if s.ready else 'no':<6} {s.host}:{s.port}")


def show_history(client: Client, region: str) -> None:
    print(f"  {'VERSION':>7}  {'ORIGIN':<16} {'+/~/-':<7} {'AUTHOR':<12} MESSAGE")
    for v in client.history(region, limit=5):
        counts = f"{v.counts.created}/{v.counts.updated}/{v.counts.deleted}"
        origin = f"{v.origin}" + (f" of v{v.rollback_of}" if v.rollback_of else "")
        print(f"  {v.version:>7}  {origin:<16} {counts:<7} {v.author[:12]:<12} {v.message}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--region", default="aws:us-east-1")
    ap.add_argument("--clusters", default="prod,shadow",
                    help="clusters of the region that must run the state (default: prod,shadow)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds to wait for ready (default: 180)")
    args = ap.parse_args()
    region, clusters = args.region, [c for c in args.clusters.split(",") if c]

    if not os.environ.get("SENREN_TOKEN"):
        fail("SENREN_TOKEN is not set", RuntimeError('run: eval "$(tools/lab env)"'))

    state = [
        RedisDatabase("sessions", memory_mb=512, replicas=3, persistence="rdb"),
        AerospikeCluster("profiles", size=3, namespaces=[
            AerospikeNamespace("users", memory_mb=1024, replication_factor=2)]),
    ]
    changed = [RedisDatabase("sessions", memory_mb=1024, replicas=3, persistence="rdb"), state[1]]

    with Client(timeout=20, retries=4) as client:
        print(f"Senren control plane at {client.addr}")
        try:
            client.regions()
        except Unavailable as e:
            fail(f"senren-ledger does not answer at {client.addr} (is it running? tools/lab status)", e)
        except Unauthenticated as e:
            fail("the control plane refused SENREN_TOKEN", e)

        def wait(version: int, label: str) -> RegionStatus:
            print(f"\nwaiting for version {version} ({label}) in {region} clusters {', '.join(clusters)} …")
            try:
                st = client.wait_ready(region, version=version, timeout=args.timeout, clusters=clusters)
            except Unimplemented as e:
                fail("the control plane does not serve status yet (GetStatus/WatchStatus: the status "
                     "projector is missing)", e)
            except Timeout as e:
                hint = ""
                if any("has not reported" in line or "no cluster" in line for line in e.not_ready):
                    hint = " — is senren-regional running for every cluster? (tools/lab status)"
                fail(f"version {version} was not ready in {args.timeout:g} s{hint}", e)
            return st

        try:
            # 1. The desired state of the region: apply it and wait until it runs.
            print(f"\n1. apply {len(state)} resources to {region}")
            r1 = client.apply_state(region, state, message="quickstart: sessions cache and profiles store",
                                    allow_mass_delete=True)
            print(f"   version {r1.version} (changed: {r1.changed}); created: {', '.join(r1.created) or '-'}")
            show_status(wait(r1.version, "first state"), state)

            print(f"\n2. history of {region}")
            show_history(client, region)

            # 3. A change: more memory for sessions.
            print("\n3. apply a change: sessions 512 → 1024 MiB")
            r2 = client.apply_state(region, changed, message="quickstart: grow sessions",
                                    expected_version=r1.version)
            print(f"   version {r2.version}; updated: {', '.join(r2.updated) or '-'}")
            show_status(wait(r2.version, "the change"), changed)

            # 4. Roll back: a new version with version r1's resources.
            print(f"\n4. roll back to version {r1.version}")
            r3 = client.rollback(region, r1.version, message="quickstart: roll back the change")
            print(f"   version {r3.version}; updated: {', '.join(r3.updated) or '-'}")
            show_status(wait(r3.version, "the rollback"), state)

            print(f"\n5. history of {region}")
            show_history(client, region)
        except Unavailable as e:
            fail(f"senren-ledger stopped answering at {client.addr}", e)
        except SenrenError as e:
            fail(f"the control plane refused a step ({type(e).__name__})", e)
    print("\nquickstart: done")


if __name__ == "__main__":
    main()

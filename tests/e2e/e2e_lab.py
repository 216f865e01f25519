"""The lab as the end-to-end tests see it (docs/design.md §10): environment, parts, clusters.

Everything here talks to 127.0.0.1 only. Parts are stopped by the pids the lab recorded
(``$SENREN_LAB_DIR/pids/<part>.pid``) and started again with ``tools/lab up``, which
starts what is not running.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tools" / "lab"


@dataclass(frozen=True)
class Part:
    """One row of ``tools/lab status``."""

    name: str
    pid: Optional[int]
    health: str  # up | down | unhealthy | not built


@dataclass(frozen=True)
class LabStatus:
    exit_code: int
    parts: dict[str, Part]
    text: str

    def up(self, name: str) -> bool:
        p = self.parts.get(name)
        return p is not None and p.health == "up"

    def built(self, name: str) -> bool:
        p = self.parts.get(name)
        return p is not None and p.health != "not built"

    def not_up(self) -> list[str]:
        """Every part that is not up (down, unhealthy or not built), as "name (health)"."""
        return [f"{n} ({p.health})" for n, p in self.parts.items() if p.health != "up"]

    def regional_planes_up(self) -> list[str]:
        return [n for n, p in self.parts.items() if n.startswith("senren-regional-") and p.health == "up"]

    @property
    def full(self) -> bool:
        """Every daemon runs: the status exits 0 and lists live senren-regional planes."""
        return self.exit_code == 0 and bool(self.regional_planes_up())


def status() -> LabStatus:
    """Runs ``tools/lab status`` and parses its table."""
    p = subprocess.run([str(LAB), "status"], capture_output=True, text=True, timeout=120)
    return parse_status(p.stdout, p.returncode, p.stderr)


def parse_status(text: str, exit_code: int, stderr: str = "") -> LabStatus:
    """The table of ``tools/lab status``: PART PID ADDRESS HEALTH RSS, one part a line."""
    parts: dict[str, Part] = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|unhealthy|not built|not ready|ready)\b", line)
        if not m:
            continue
        name, pid, _addr, health = m.groups()
        # Senren's daemons report their /readyz: ready is up, not ready (a reason follows) is
        # unhealthy.
        health = {"ready": "up", "not ready": "unhealthy"}.get(health, health)
        parts[name] = Part(name, int(pid) if pid.isdigit() else None, health)
    return LabStatus(exit_code, parts, text + stderr)


def env() -> dict[str, str]:
    """The lab's environment (``tools/lab env``) as a dict."""
    p = subprocess.run([str(LAB), "env"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"tools/lab env failed: {p.stderr.strip()} (run tools/lab up)")
    out: dict[str, str] = {}
    for line in p.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            out[k] = shlex.split(v)[0] if v else ""
    return out


@dataclass(frozen=True)
class Cluster:
    """One lab Kubernetes cluster."""

    slug: str  # aws-us-east-1-prod
    region: str  # aws:us-east-1
    name: str  # prod
    kubeconfig: str


def clusters(e: dict[str, str]) -> list[Cluster]:
    out = []
    for kc in e.get("SENREN_KUBECONFIGS", "").split():
        slug = Path(kc).parent.name
        parts = slug.split("-")
        out.append(Cluster(slug, f"{parts[0]}:{'-'.join(parts[1:-1])}", parts[-1], kc))
    return out


def kubectl(e: dict[str, str], cluster: Cluster, *args: str, timeout: float = 60) -> str:
    exe = os.path.join(e.get("SENREN_KUBE_BIN", ""), "kubectl")
    p = subprocess.run(
        [exe, "--kubeconfig", cluster.kubeconfig, *args], capture_output=True, text=True, timeout=timeout
    )
    if p.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} on {cluster.slug}: {p.stderr.strip()}")
    return p.stdout


PLURALS = {"RedisDatabase": "redisdatabases", "AerospikeCluster": "aerospikeclusters"}


def crs(e: dict[str, str], cluster: Cluster, namespace: str = "senren") -> dict[str, dict]:
    """Every Senren CR in a cluster's namespace, by "Kind/name"."""
    out = {}
    for kind, plural in PLURALS.items():
        items = json.loads(kubectl(e, cluster, "-n", namespace, "get", f"{plural}.senren.io", "-o", "json"))["items"]
        for item in items:
            out[f"{kind}/{item['metadata']['name']}"] = item
    return out


def pid_of(e: dict[str, str], part: str) -> Optional[int]:
    f = Path(e["SENREN_LAB_DIR"]) / "pids" / f"{part}.pid"
    try:
        pid = int(f.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


@dataclass(frozen=True)
class Stopped:
    """A lab part stopped by :func:`stop`, with what it takes to start it again as it was."""

    part: str
    pid_line_match: str  # the second field of the lab's pid file
    argv: list[str]
    cwd: str
    environ: dict[str, str]
    log: str


def stop(e: dict[str, str], part: str, timeout: float = 30, sig: int = signal.SIGTERM) -> Stopped:
    """Stops one lab part by its recorded pid (`sig`, then SIGKILL after `timeout`).

    Returns what :func:`start` needs to start the same process again: its command line,
    working directory, environment and log, read from /proc before the stop. (Restarting
    through ``tools/lab up`` would rebuild the tree first, and a half-edited tree of
    another part must not keep this one down.)
    """
    pid = pid_of(e, part)
    if pid is None:
        raise RuntimeError(f"lab part {part} is not running")
    proc = Path(f"/proc/{pid}")
    if (proc / "status").read_text().split("Uid:")[1].split()[0] != "0":
        raise RuntimeError(f"lab part {part} does not run as root; the tests only restart root parts")
    pid_file = Path(e["SENREN_LAB_DIR"]) / "pids" / f"{part}.pid"
    fields = pid_file.read_text().split(maxsplit=1)
    env_items = [kv.split("=", 1) for kv in (proc / "environ").read_bytes().decode().split("\0") if "=" in kv]
    saved = Stopped(
        part=part,
        pid_line_match=fields[1].strip() if len(fields) > 1 else "",
        argv=[a for a in (proc / "cmdline").read_bytes().decode().split("\0") if a],
        cwd=os.readlink(proc / "cwd"),
        environ={k: v for k, v in env_items},
        log=os.readlink(proc / "fd" / "1"),
    )
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while proc.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.exists():
        os.kill(pid, signal.SIGKILL)
        while proc.exists():
            time.sleep(0.05)
    return saved


def start(e: dict[str, str], s: Stopped) -> int:
    """Starts a part stopped by :func:`stop` again, as the lab does (own session, output
    appended to its log), and records its pid where the lab looks for it."""
    with open(s.log, "ab") as log:
        p = subprocess.Popen(s.argv, cwd=s.cwd, env=s.environ, stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file = Path(e["SENREN_LAB_DIR"]) / "pids" / f"{s.part}.pid"
    pid_file.write_text(f"{p.pid} {s.pid_line_match}\n".replace(" \n", "\n"))
    return p.pid


def tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def up(timeout: float = 600) -> None:
    """``tools/lab up --no-quickstart``: starts every part that is not running."""
    p = subprocess.run([str(LAB), "up", "--no-quickstart"], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"tools/lab up failed:\n{p.stderr[-3000:]}")


def wait_until(what: str, fn, timeout: float = 60, every: float = 0.25):
    """Polls fn() until it returns something true; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not true after {timeout:g} s (last: {last!r})")

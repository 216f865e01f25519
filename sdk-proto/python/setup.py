"""Build hook of the Senren SDK: generates the gRPC stubs at build time.

The stubs of ``senren.v1`` are generated with grpcio-tools from the contract in
``sdk-proto/senren/v1/*.proto`` into the private package ``senren._pb.v1`` of the build
(never into the source tree, except for an editable install, and never committed).
An sdist carries a copy of the contract under ``proto/`` so that it builds on its own.

The run-time requirements are those of the grpcio-tools that generated the code: the
generated modules check that grpcio and protobuf are at least as new as their generator.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
# Where the contract is: in an sdist, proto/; in the repository, ../ (sdk-proto/).
PROTO_ROOTS = [HERE / "proto", HERE.parent]


def proto_root() -> Path:
    for root in PROTO_ROOTS:
        if sorted(root.glob("senren/v1/*.proto")):
            return root
    raise SystemExit(
        "senren setup.py: no senren/v1/*.proto found in "
        + " or ".join(str(r) for r in PROTO_ROOTS)
        + "; build from the repository (pip install ./sdk-proto/python) or from an sdist"
    )


def run_time_requirements() -> list[str]:
    try:
        reqs = importlib.metadata.requires("grpcio-tools") or []
    except importlib.metadata.PackageNotFoundError:
        return ["grpcio", "protobuf"]
    wanted = [r for r in reqs if re.match(r"^(grpcio|protobuf)\b", r) and "extra" not in r]
    return wanted or ["grpcio", "protobuf"]


_IMPORT = re.compile(r"^(from|import) senren\.v1\b", re.MULTILINE)


def copy_rules(pkg: Path) -> None:
    """Copies the rules table (senren/v1/rules.json) into the package as senren/_rules.json.

    The ledger compiles the same file in and the CRDs are checked against it, so the SDK
    refuses exactly what the ledger and the clusters refuse.
    """
    pkg.mkdir(parents=True, exist_ok=True)
    shutil.copy2(proto_root() / "senren" / "v1" / "rules.json", pkg / "_rules.json")


def generate(out_pkg: Path) -> None:
    """Generates senren.v1's *_pb2.py, *_pb2.pyi and *_pb2_grpc.py into out_pkg/v1."""
    from grpc_tools import protoc  # build-time only

    root = proto_root()
    protos = sorted(root.glob("senren/v1/*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *(str(p) for p in protos),
        ]
        rc = protoc.main(args)
        if rc != 0:
            raise SystemExit(f"senren setup.py: grpc_tools.protoc failed ({rc}) on {root}/senren/v1")
        out = out_pkg / "v1"
        if out_pkg.exists():
            shutil.rmtree(out_pkg)
        out.mkdir(parents=True)
        (out_pkg / "__init__.py").write_text(
            '"""Generated gRPC stubs of senren.v1 (private: use the senren package)."""\n'
        )
        (out / "__init__.py").write_text('"""Generated from sdk-proto/senren/v1/*.proto."""\n')
        for f in sorted((Path(tmp) / "senren" / "v1").iterdir()):
            text = _IMPORT.sub(lambda m: f"{m.group(1)} senren._pb.v1", f.read_text())
            (out / f.name).write_text(text)


class BuildPyWithStubs(build_py):
    """build_py that also generates senren._pb from the .proto contract."""

    def run(self) -> None:
        super().run()
        pkg = HERE / "src" / "senren" if getattr(self, "editable_mode", False) else Path(self.build_lib) / "senren"
        generate(pkg / "_pb")
        copy_rules(pkg)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outs = list(super().get_outputs(include_bytecode))
        pb = Path(self.build_lib) / "senren" / "_pb"
        if pb.exists():
            outs += [str(p) for p in pb.rglob("*") if p.is_file()]
        rules = Path(self.build_lib) / "senren" / "_rules.json"
        if rules.exists():
            outs.append(str(rules))
        return outs


class SdistWithProtos(sdist):
    """sdist that carries the contract (.proto files and rules.json) under proto/."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = proto_root()
        dest = Path(base_dir) / "proto" / "senren" / "v1"
        dest.mkdir(parents=True, exist_ok=True)
        for p in sorted(root.glob("senren/v1/*.proto")) + [root / "senren" / "v1" / "rules.json"]:
            shutil.copy2(p, dest / p.name)


setup(
    install_requires=run_time_requirements(),
    cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
)

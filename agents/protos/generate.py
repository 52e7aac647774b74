"""Regenerate the checked-in Python code for the ARTF protos.

The generated modules are committed so that running the exchange needs no protoc; this
script is the one way they are made, and `--check` lets a test prove they still match the
.proto files and the pinned grpcio-tools.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent.parent
PACKAGE_PATH = PROTO_DIR.relative_to(ROOT)
PROTOS = ("openrtb.proto", "artf.proto", "artf_services.proto")


def generated_names() -> list[str]:
    """The files protoc writes for PROTOS (only service files get a non-empty _grpc)."""
    names = []
    for proto in PROTOS:
        stem = proto.removesuffix(".proto")
        names += [f"{stem}_pb2.py", f"{stem}_pb2.pyi", f"{stem}_pb2_grpc.py"]
    return names


def generate(out_root: Path) -> None:
    """Run protoc from the repo root so imports come out as `from agents.protos import …`."""
    well_known = resources.files("grpc_tools") / "_proto"
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        "-I",
        ".",
        "-I",
        str(well_known),
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(PACKAGE_PATH / p) for p in PROTOS),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"protoc failed ({done.returncode}):\n{done.stderr}")


def check() -> list[str]:
    """Names of checked-in files that differ from (or are missing in) a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh_dir = Path(tmp) / PACKAGE_PATH
        differing = []
        for name in generated_names():
            fresh, ours = fresh_dir / name, PROTO_DIR / name
            if not ours.exists() or fresh.read_bytes() != ours.read_bytes():
                differing.append(name)
        return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare a fresh generation with the checked-in files"
    )
    args = parser.parse_args(argv)
    if args.check:
        differing = check()
        for name in differing:
            print(f"out of date: {PACKAGE_PATH / name}", file=sys.stderr)
        return 1 if differing else 0
    generate(ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

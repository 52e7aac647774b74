"""The exchange core runs without the web framework: the simulation, the benchmarks and any
other host drive it through ``Exchange.auction`` with nothing of FastAPI or Starlette
loaded, and only the HTTP server imports ``app``."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE_MODULES = [
    "exchange",
    "simulation",
    "bidding",
    "budget",
    "auction",
    "openrtb",
    "fraud",
    "attribution",
    "experiments",
    "supply",
]


def loaded_after_importing(modules: list[str]) -> set[str]:
    script = (
        "import importlib, pkgutil, sys\n"
        f"for top in {modules!r}:\n"
        "    package = importlib.import_module(top)\n"
        "    for info in pkgutil.walk_packages(package.__path__, top + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_no_core_module_loads_the_web_framework_or_the_http_server() -> None:
    loaded = loaded_after_importing(CORE_MODULES)
    assert "exchange.wiring" in loaded  # every module was imported
    assert not {m for m in loaded if m.split(".")[0] in {"fastapi", "starlette", "app"}}

"""The image holds every package the project installs: a package left out of the Dockerfile's
COPY lines would install without error and fail at the first import in the container."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_dockerfile_copies_every_installed_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in included}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages == copied

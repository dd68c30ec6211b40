"""The installed distribution holds every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed_for_installation() -> None:
    """A package missing from pyproject's explicit list would be left out of
    a non-editable install, and serve would fail to import it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    found = set()
    for top in listed:
        for init in (ROOT / top.replace(".", "/")).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT)
            found.add(".".join(relative.parts))
    assert found <= listed, sorted(found - listed)
    assert "storage.queries" in found

"""The habits that keep the house readable (#13): modules small enough to read in one sitting, and a
README and architecture page that name every room and module, so a newcomer finds any concern
from the docs and the file tree alike. A new module that nobody documents fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "openspace"
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "locale" not in p.parts)


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: split them by concern: {long}"


def _rooms() -> list[str]:
    tops = [p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")]
    packages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    return sorted(tops + packages)


@pytest.mark.parametrize("doc", ["README.md", "docs/architecture.md"])
def test_every_room_and_top_level_module_is_named_in_the_docs(doc: str) -> None:
    text = (ROOT / doc).read_text()
    missing = [name for name in _rooms() if name not in text]
    assert not missing, f"{doc} does not name {missing}: add them to its map of the tree"

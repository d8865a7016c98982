"""Where templates and static files are: inside an installed wheel, or at the repository's top.

A leaf module so that both the web pages and the exports (the HTML proceedings embed the CSS)
find the same files without the exports importing the web layer."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]


def asset_dir(name: str) -> Path:
    """`templates` or `static`: inside an installed package, else at the repository's top (editable)."""
    installed = PACKAGE_DIR / name
    return installed if installed.is_dir() else REPO_ROOT / name

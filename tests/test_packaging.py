"""A plain `pip install .` (not only an editable install) serves pages: templates and static files
and the catalogs are inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVE_ONE_PAGE = """
import sys
sys.path.insert(0, sys.argv[1])
import openspace
assert openspace.__file__.startswith(sys.argv[1]), openspace.__file__
from starlette.testclient import TestClient
from openspace.app import create_app
from openspace.settings import Settings
with TestClient(create_app(Settings(db=sys.argv[2], demo=False, allowed_hosts="testserver"))) as client:
    page = client.get("/new", headers={"accept-language": "sv"})
    css = client.get(page.text.split('href="')[2].split('"')[0])
    print(page.status_code, css.status_code, "Skapa ett evenemang" in page.text)
"""


def makefile_pip_flags() -> list[str]:
    line = next(x for x in (ROOT / "Makefile").read_text().splitlines() if x.startswith("PIP_FLAGS ?="))
    return line.split("?=", 1)[1].split()


def test_building_prints_no_warnings(tmp_path: Path) -> None:
    """A first `make serve` printed pages of packaging warnings (#19): none from the build itself,
    and with the Makefile's pip flags nothing at all."""
    build = ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)]
    quiet = subprocess.run([sys.executable, "-m", "pip", "--quiet", *build], capture_output=True, text=True)
    assert quiet.returncode == 0 and "BuildBackendWarning" not in quiet.stderr + quiet.stdout, quiet.stderr
    made = subprocess.run([sys.executable, "-m", "pip", *makefile_pip_flags(), *build], capture_output=True, text=True)
    assert made.returncode == 0 and made.stdout + made.stderr == "", made.stderr


def test_the_wheel_carries_templates_static_files_and_catalogs(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)], check=True)
    wheel = next(tmp_path.glob("openspace-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "openspace/templates/base.html",
        "openspace/static/js/live.js",
        "openspace/static/css/app.css",
        "openspace/locale/sv/LC_MESSAGES/messages.po",
    ):
        assert expected in names
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_PAGE, str(target), str(tmp_path / "w.db")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.stdout.split() == ["200", "200", "True"], result.stderr

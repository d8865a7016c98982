"""One setting chooses the store: OPENSPACE_DATABASE_URL, with `--db FILE` as its shorthand; and
nothing outside store/ knows the database's driver or its file names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.cli import main
from openspace.settings import Settings
from openspace.store import StoreError, describe, open_store, sqlite_url
from openspace.store.sqlite import SQLiteStore

SRC = Path(__file__).resolve().parents[2] / "src" / "openspace"
DRIVERS = {"sqlite3", "aiosqlite"}


async def test_a_sqlite_url_opens_a_sqlite_store_at_its_file(tmp_path: Path) -> None:
    """sqlite:///FILE is relative to the working directory; four slashes make an absolute path."""
    assert sqlite_url(tmp_path / "a.db") == f"sqlite:///{tmp_path}/a.db" and str(tmp_path).startswith("/")
    store = await open_store(f"sqlite:///{tmp_path}/a.db")
    try:
        assert isinstance(store, SQLiteStore) and await store.event_count() == 0
    finally:
        await store.close()
    assert (tmp_path / "a.db").is_file()
    assert describe("sqlite:///openspace.db") == "openspace.db"


@pytest.mark.parametrize("url", ["postgresql://localhost/openspace", "openspace.db", "sqlite://", "sqlite:///"])
async def test_an_unknown_database_url_is_refused_with_a_message(url: str) -> None:
    with pytest.raises(StoreError, match="database URL"):
        await open_store(url)


def test_db_is_shorthand_for_a_sqlite_url() -> None:
    """The default is the old default file; --db (or OPENSPACE_DB) wins over the URL when given."""
    assert Settings().database == "sqlite:///openspace.db"
    env = {"OPENSPACE_DATABASE_URL": "sqlite:////srv/os.db"}
    assert Settings.from_env(env).database == "sqlite:////srv/os.db"
    assert Settings.from_env(env, db="/tmp/flag.db").database == "sqlite:////tmp/flag.db"
    assert Settings.from_env({**env, "OPENSPACE_DB": "here.db"}).database == "sqlite:///here.db"


def test_the_server_and_the_cli_open_the_store_the_url_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's lifespan and every command go through the URL."""
    served = tmp_path / "served.db"
    settings = Settings(database_url=sqlite_url(served), demo=False, allowed_hosts="testserver")
    with TestClient(create_app(settings)) as client:
        assert client.get("/").status_code == 200
    assert served.is_file()
    made = tmp_path / "cli.db"
    monkeypatch.setenv("OPENSPACE_DATABASE_URL", sqlite_url(made))
    result = CliRunner().invoke(main, ["new-event", "--name", "Stenhamra", "--date", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert made.is_file()
    monkeypatch.setenv("OPENSPACE_DATABASE_URL", "mysql://nowhere/os")
    result = CliRunner().invoke(main, ["export", "slug", "--format", "json", "-o", str(tmp_path / "x.json")])
    assert result.exit_code != 0 and "unknown database URL" in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback


def python_files_outside_store() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "store" not in p.relative_to(SRC).parts]


@pytest.mark.parametrize("path", python_files_outside_store(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_store_knows_the_database(path: Path) -> None:
    """No module outside store/ imports a database driver or spells a database's file names."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {alias.name.split(".")[0] for alias in node.names} & DRIVERS, node.lineno
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in DRIVERS, node.lineno
            assert not (node.module or "").startswith("openspace.store.sqlite"), node.lineno  # open_store(url)
            assert node.module != "openspace.store" or "sqlite" not in {a.name for a in node.names}, node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not node.value.endswith((".files", "-wal", "-shm")), node.lineno

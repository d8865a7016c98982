"""Settings: one table, environment variables, CLI flags, and documentation that cannot drift."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from openspace import links
from openspace.cli import main
from openspace.settings import SETTINGS, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    for setting in SETTINGS:
        assert f"`OPENSPACE_{setting.name.upper()}`" in text, setting.name
        assert setting.help in text, setting.name


def test_table_and_dataclass_agree() -> None:
    assert {s.name: s.default for s in SETTINGS} == vars(Settings())


def test_environment_then_flags() -> None:
    env = {"OPENSPACE_PORT": "9001", "OPENSPACE_DEMO": "no", "OPENSPACE_DB": "/tmp/x.db"}
    settings = Settings.from_env(env, db="/tmp/flag.db", host=None)
    assert (settings.port, settings.demo, settings.db, settings.host) == (9001, False, "/tmp/flag.db", "127.0.0.1")


def test_public_base_url() -> None:
    assert links.public_base("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert links.public_base("0.0.0.0", 8000, "https://open.example.org/") == "https://open.example.org"
    lan = links.public_base("0.0.0.0", 8000)
    assert lan.startswith("http://") and not lan.startswith("http://0.0.0.0")


def test_serve_help_lists_every_flag() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--db", "--demo / --no-demo", "--public-url"):
        assert flag in result.output


def test_new_event_prints_labelled_links(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    result = CliRunner().invoke(
        main,
        ["new-event", "--name", "Bibliotekscafé", "--date", "2026-05-02", "--db", db, "--public-url", "http://x.test"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("Participant link: http://x.test/e/") for line in lines)
    assert any(line.startswith("Facilitator link: http://x.test/e/") and "/f/" in line for line in lines)


def test_new_event_refuses_bad_input_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-event", "--name", "X", "--date", "02/05", "--db", str(tmp_path / "c.db")])
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output

"""Swedish and English are complete: a missing, empty or fuzzy translation fails the suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from openspace import i18n

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def source_messages() -> set[str]:
    """Every string the code and templates mark for translation, extracted as Babel would."""
    found: set[str] = set()
    methods = [("src/openspace/**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _, _, message, _, _ in extract_from_dir(
        ROOT,
        method_map=methods,
        options_map=options,
        keywords={"N_": None, "_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalog(language: str):  # type: ignore[no-untyped-def]
    with (ROOT / "src/openspace/locale" / language / "LC_MESSAGES/messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_source_string_is_translated(language: str) -> None:
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog(language) if m.id}
    missing = sorted(source_messages() - entries.keys())
    assert not missing, f"not in the {language} catalog (run `make i18n`): {missing}"
    for message_id, message in entries.items():
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: empty translation for {message_id!r}"
        assert not message.fuzzy, f"{language}: fuzzy translation for {message_id!r}"
        for text in strings:
            assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(message_id)), message_id


def test_swedish_is_really_swedish() -> None:
    i18n.set_language("sv")
    assert i18n.gettext("Propose a topic") != "Propose a topic"
    assert i18n.ngettext("%(num)s place", "%(num)s places", 1) % {"num": 1} == "1 plats"
    assert i18n.ngettext("%(num)s place", "%(num)s places", 5) % {"num": 5} == "5 platser"
    assert i18n.format_day("2026-03-14") == "lördag 14 mars"
    i18n.set_language("en")
    assert i18n.format_day("2026-03-14") == "Saturday 14 March"


def test_language_choice_order() -> None:
    assert i18n.choose_language("en", "sv", "sv") == "en"  # the person's own choice first
    assert i18n.choose_language(None, "en-GB", "sv") == "sv"  # then the event's language
    assert i18n.choose_language(None, "sv-SE,en;q=0.5", "") == "sv"  # then the browser's
    assert i18n.choose_language("xx", "de", "") == "en"

"""Extract the translatable strings, merge them into the catalogs, and fill English from the source.

English is the source language, so its catalog is the identity; Swedish must be translated by a
person. Prints the Swedish entries still missing (tests/test_i18n.py fails while any remain).
Run with `make i18n`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "src" / "openspace" / "locale"
POT = ROOT / "build" / "messages.pot"


def main() -> int:
    POT.parent.mkdir(exist_ok=True)
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [
            *pybabel,
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-o",
            str(POT),
            "--no-location",
            "--omit-header",
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    subprocess.run(
        [
            *pybabel,
            "-q",
            "update",
            "-i",
            str(POT),
            "-d",
            str(LOCALE),
            "-D",
            "messages",
            "--no-fuzzy-matching",
            "--omit-header",
            "--ignore-obsolete",
        ],
        cwd=ROOT,
        check=True,
    )
    english = LOCALE / "en" / "LC_MESSAGES" / "messages.po"
    with english.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    catalog.fuzzy = False
    catalog.project, catalog.language_team = "openspace", "English"
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with english.open("wb") as handle:
        write_po(handle, catalog, width=0)
    with (LOCALE / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        missing = [
            m.id
            for m in read_po(handle, locale="sv")
            if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))
        ]
    for message_id in missing:
        print("sv: not translated:", message_id)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())

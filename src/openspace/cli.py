"""The `openspace` command: `serve` (the default), `new-event`, `export`, `import`, `backup`, `restore`.

Every `serve` option falls back to its `OPENSPACE_*` environment variable, then to the default in
`settings.SETTINGS`; `openspace serve --help` shows the same help texts as docs/settings.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import sqlite3
import sys
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import click
import uvicorn

from openspace import links
from openspace.app import create_app
from openspace.demo import create_demo
from openspace.domain.errors import DomainError
from openspace.domain.model import Event
from openspace.exports import document as export_data
from openspace.exports import formats as exporting
from openspace.exports.formats import FORMATS
from openspace.guard import install_redaction
from openspace.live.bus import MemoryBus
from openspace.live.frames import FrameProtocol
from openspace.media import PhotoStore
from openspace.runtime import Runtime
from openspace.service import Service, new_id
from openspace.settings import SETTINGS, Settings
from openspace.store import sqlite as storage
from openspace.store.factory import database_url as storage_url
from openspace.store.factory import open_store
from openspace.store.sqlite import SQLiteStore
from openspace.workers import serve_workers

HELP = {s.name: s.help for s in SETTINGS}
GC_YOUNG = 50_000  # allocations between young collections (CPython's default is 700)
SWITCH_INTERVAL = 0.0005  # s a thread waits at most for Python's lock (CPython: 0.005)


def print_links(base: str, event: Event, secret: str, out: Any = None) -> None:
    out = out or sys.stdout
    print(f"Event:            {event.name}", file=out)
    print(f"Participant link: {links.participant_link(base, event.slug)}", file=out)
    print(f"Projector:        {links.participant_link(base, event.slug)}/projector", file=out)
    print(f"Facilitator link: {links.facilitator_link(base, event.slug, secret)}", file=out)
    print("Keep the facilitator link secret: whoever opens it can run the event.", file=out)
    out.flush()


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """openspace: run Open Space Technology unconferences, live on every screen."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@main.command()
@click.option("--host", default=None, help=HELP["host"])
@click.option("--port", type=int, default=None, help=HELP["port"])
@click.option("--db", default=None, help=HELP["db"])
@click.option("--demo/--no-demo", default=None, help=HELP["demo"])
@click.option("--public-url", default=None, help=HELP["public_url"])
@click.option("--log-level", default=None, help=HELP["log_level"])
@click.option("--database-url", default=None, help=HELP["database_url"])
@click.option("--bus-url", default=None, help=HELP["bus_url"])
@click.option("--workers", type=int, default=None, help=HELP["workers"])
def serve(
    host: str | None,
    port: int | None,
    db: str | None,
    demo: bool | None,
    public_url: str | None,
    log_level: str | None,
    database_url: str | None,
    bus_url: str | None,
    workers: int | None,
) -> None:
    """Start the server (creating the demo event on first run)."""
    settings = Settings.from_env(
        host=host,
        port=port,
        db=db,
        demo=demo,
        public_url=public_url,
        log_level=log_level,
        database_url=database_url,
        bus_url=bus_url,
        workers=workers,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    install_redaction()
    if settings.workers > 1:
        serve_workers(settings)
        return

    async def on_ready(runtime: Runtime) -> None:
        if settings.demo and await runtime.store.event_count() == 0:
            event, secret = await create_demo(runtime.service)
            print_links(runtime.base_url, event, secret)
        settle_heap()
        print(f"openspace is running on {runtime.base_url}", flush=True)

    app = create_app(settings, on_ready=on_ready)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        ws=FrameProtocol,  # uvicorn's websockets-sansio, plus pre-framed fan-out writes (frames.py)
        ws_max_size=settings.ws_max_size,
        ws_per_message_deflate=False,
        log_level=settings.log_level,
        # the change log, not the proxy, carries the truth: no server-side header spoofing trust
        proxy_headers=False,
        log_config=None,  # keep the logging set up above, with secrets redacted
    )


def settle_heap() -> None:
    """Keep the garbage collector's pauses, and waits for Python's lock, short under load.

    A full collection walks every object the server holds; measured under the benchmark's write
    load, five of them took 95-120 ms each, and a change waiting behind one is that late on every
    screen. What was made at startup (modules, templates, the demo) lives as long as the
    server, so it is frozen out of the walk; and a larger first generation lets the short-lived
    objects of each change die young instead of being promoted into the expensive one. Measured:
    two full collections of at most 33 ms instead of five of up to 120 ms.

    The database writer's thread gives up Python's lock around every SQLite call and then waits
    for the event loop to hand it back, by default up to 5 ms each time: a batch of a few dozen
    statements could wait longer than it worked. A 0.5 ms switch interval brought the p99 of an
    action's commit at 2,000 actions/s from 13-14 ms to 7-9 ms (docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 100)
    sys.setswitchinterval(SWITCH_INTERVAL)


@main.command("new-event")
@click.option("--name", required=True, help="The event's name.")
@click.option("--date", "starts_on", required=True, help="First day, YYYY-MM-DD.")
@click.option("--until", "ends_on", default="", help="Last day, YYYY-MM-DD (default: the first day).")
@click.option("--timezone", default="Europe/Stockholm", show_default=True)
@click.option("--language", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@click.option("--theme", default="", help="The theme question.")
@click.option("--venue", default="")
@click.option("--db", default=None, help=HELP["db"])
@click.option("--public-url", default=None, help=HELP["public_url"])
def new_event(**options: str) -> None:
    """Create an event from the command line and print its links."""
    settings = Settings.from_env(db=options.pop("db"), public_url=options.pop("public_url"))

    async def run() -> tuple[Event, str]:
        store = SQLiteStore(settings.db)
        await store.open()
        service = Service(store, MemoryBus())
        await service.start()
        try:
            return await service.create_event(options)
        finally:
            await service.stop()
            await store.close()

    try:
        event, secret = asyncio.run(run())
    except DomainError as error:
        raise click.ClickException(f"{error} ({error.field})" if error.field else str(error)) from None
    print_links(links.public_base(settings.host, settings.port, settings.public_url), event, secret)


@main.command("export")
@click.argument("event")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), required=True, help="What to write.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write.")
@click.option("--db", default=None, help=HELP["db"])
def export_command(event: str, fmt: str, output: str, db: str | None) -> None:
    """Write an event's proceedings or data to a file (EVENT is its slug, as in its links)."""
    settings = Settings.from_env(db=db)

    async def run() -> None:
        store = SQLiteStore(settings.db)
        await store.open()
        try:
            found = await store.event_by_slug(event)
            if found is None:
                raise click.ClickException(f"no event {event!r} in {settings.db}")
            board = await store.load_board(found.id)
            assert board is not None
        finally:
            await store.close()
        steps = 2 + (len(board.photos) + 7 if fmt == "zip" else 0)
        with click.progressbar(length=steps, label=f"Writing {fmt}", file=sys.stderr) as bar, open(output, "wb") as out:
            bar.update(1)
            exporting.write(board, fmt, out, PhotoStore(Path(f"{settings.db}.files")), progress=lambda _: bar.update(1))
        click.echo(f"Wrote {output} ({Path(output).stat().st_size} bytes)")

    asyncio.run(run())


@main.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default=None, help=HELP["db"])
@click.option("--public-url", default=None, help=HELP["public_url"])
def import_command(source: str, db: str | None, public_url: str | None) -> None:
    """Restore an exported event (event.json, or the ZIP with its photos) as a new event."""
    settings = Settings.from_env(db=db, public_url=public_url)

    async def run() -> tuple[Event, str]:
        document, files = exporting.read_archive(Path(source))
        try:
            imported = export_data.from_document(document, new_id)
        except ValueError as problem:
            raise click.ClickException(str(problem)) from None
        store = SQLiteStore(settings.db)
        await store.open()
        photos = PhotoStore(Path(f"{settings.db}.files"))
        service = Service(store, MemoryBus())
        await service.start()
        try:
            entities = exporting.restore_photos(imported, files, photos)
            return await service.import_event(imported.event_fields, entities)
        finally:
            await service.stop()
            await store.close()

    event, secret = asyncio.run(run())
    print_links(links.public_base(settings.host, settings.port, settings.public_url), event, secret)


@main.command("backup")
@click.option("--db", default=None, help=HELP["db"])
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="The backup file to write.")
def backup_command(db: str | None, output: str) -> None:
    """Copy the database while the server runs (SQLite's online backup), with its photos."""
    settings = Settings.from_env(db=db)
    source, target = Path(settings.db), Path(output)
    require_database(source)
    if target.resolve() == source.resolve():
        raise click.ClickException(f"{output} is the database itself: back up into another file")
    # written beside the target and moved over it only when whole, so a failed backup never
    # leaves a broken file, or a database without its photos, where the last good backup was
    partial = target.with_name(f".{target.name}.partial")
    try:
        discard(partial)
        storage.backup(source, partial)
        move_over(partial, target)
    except (OSError, sqlite3.Error) as problem:
        discard(partial)
        raise click.ClickException(f"could not write the backup {output}: {problem}") from None
    click.echo(f"Backed up {settings.db} to {output}")


@main.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default=None, help=HELP["db"])
def restore_command(backup: str, db: str | None) -> None:
    """Make a database from a backup, for a fresh server (refuses to overwrite one)."""
    settings = Settings.from_env(db=db)
    target = Path(settings.db)
    require_database(Path(backup))
    if target.exists():
        raise click.ClickException(f"{settings.db} exists: restore into a new file")
    try:
        storage.restore(Path(backup), target)
    except FileExistsError as problem:
        named = problem.filename if problem.filename is not None else (problem.args or ("",))[0]
        if Path(str(named)) == target:  # made by someone else meanwhile: not ours to remove
            raise click.ClickException(f"{settings.db} exists: restore into a new file") from None
        raise click.ClickException(f"could not restore into {settings.db}: {problem}") from None
    except (ValueError, OSError, sqlite3.Error) as problem:
        discard(target)  # it did not exist before: nothing half-made stays behind
        raise click.ClickException(f"could not restore into {settings.db}: {problem}") from None
    click.echo(f"Restored {backup} into {settings.db}: clients will resynchronise from a snapshot")


def require_database(path: Path) -> None:
    """Refuse, before anything is written, a file that is missing or not an openspace database
    (SQLite would happily back up an empty file it just created, or someone else's database)."""
    if not path.is_file():
        raise click.ClickException(f"there is no database at {path}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as database:
            found = database.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    except sqlite3.DatabaseError:
        found = None
    if found is None:
        raise click.ClickException(f"{path} is not an openspace database")


def move_over(partial: Path, target: Path) -> None:
    """Put a finished backup and its photo folder where the old ones were."""
    photos, old_photos = Path(f"{partial}.files"), Path(f"{target}.files")
    os.replace(partial, target)
    shutil.rmtree(old_photos, ignore_errors=True)  # replaced, never merged into
    if photos.is_dir():
        os.replace(photos, old_photos)


def discard(path: Path) -> None:
    """Remove a half-made database and what goes with it; whatever is not there is fine."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with suppress(FileNotFoundError, NotADirectoryError):
            leftover.unlink()
    shutil.rmtree(f"{path}.files", ignore_errors=True)


@main.command("migrate")
@click.option("--database-url", default=None, help=HELP["database_url"])
@click.option("--db", default=None, help=HELP["db"])
def migrate_command(database_url: str | None, db: str | None) -> None:
    """Bring the database's schema up to date (servers also do it as they start)."""
    settings = Settings.from_env(database_url=database_url, db=db)
    url = storage_url(settings.database_url, settings.db)

    async def run() -> None:
        store = open_store(url)
        await store.open()  # opening migrates, under a lock when several start at once
        await store.close()

    asyncio.run(run())
    click.echo(f"The schema of {redact_url(url)} is up to date")


@main.command("copy")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--database-url", default=None, help="The PostgreSQL database to copy into (postgresql://…).")
def copy_command(source: str, database_url: str | None) -> None:
    """Copy every event of a SQLite file (SOURCE) into PostgreSQL, with its change log."""
    settings = Settings.from_env(database_url=database_url)
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        raise click.ClickException("give the target as --database-url postgresql://… (or OPENSPACE_DATABASE_URL)")
    require_database(Path(source))
    from openspace.store.copy import copy_events

    copied, skipped = copy_events(Path(source), settings.database_url)
    click.echo(f"Copied {copied} events into {redact_url(settings.database_url)} ({skipped} were there already)")
    click.echo(f"Photos stay in {source}.files: copy that folder to where the servers keep photos.")


def redact_url(url: str) -> str:
    """A database URL without its password, for messages."""
    head, _, rest = url.partition("://")
    if "@" in rest:
        credentials, _, place = rest.rpartition("@")
        return f"{head}://{credentials.split(':', 1)[0]}@{place}"
    return url

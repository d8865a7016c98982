"""The `openspace` command: `serve` (the default), `new-event`, `export`, `import`, `backup`, `restore`,
`migrate`, `copy` and `retention`.

Every `serve` option falls back to its `OPENSPACE_*` environment variable, then to the default in
`settings.SETTINGS`; `openspace serve --help` shows the same help texts as docs/settings.md.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from openspace import links, logs, retention, serving
from openspace import store as storage
from openspace.app import create_app
from openspace.demo import create_demo
from openspace.domain.errors import DomainError
from openspace.domain.model import Event
from openspace.exports import document as export_data
from openspace.exports import formats as exporting
from openspace.exports.formats import FORMATS
from openspace.guard import install_redaction
from openspace.live.bus import MemoryBus, open_bus
from openspace.live.frames import FrameProtocol
from openspace.media import PhotoStore
from openspace.runtime import Runtime
from openspace.service import Service, new_id
from openspace.settings import SETTINGS, Settings
from openspace.store import StoreError
from openspace.web.routes import path_for
from openspace.workers import serve_workers

HELP = {s.name: s.help for s in SETTINGS}
GC_YOUNG = 50_000  # allocations between young collections (CPython's default is 700)
SWITCH_INTERVAL = 0.0005  # s a thread waits at most for Python's lock (CPython: 0.005)


def print_links(base: str, event: Event, secret: str, out: Any = None) -> None:
    out = out or sys.stdout
    print(f"Event:            {event.name}", file=out)
    print(f"Participant link: {base}{path_for('participant', slug=event.slug)}", file=out)
    print(f"Projector:        {base}{path_for('projector', slug=event.slug)}", file=out)
    print(f"Facilitator link: {base}{path_for('facilitator_login', slug=event.slug, secret=secret)}", file=out)
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
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None, help=HELP["log_format"])
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
    log_format: str | None,
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
        log_format=log_format,
        database_url=database_url,
        bus_url=bus_url,
        workers=workers,
    )
    logs.configure(settings.log_format, settings.log_level)
    install_redaction()
    if settings.workers > 1:
        serve_workers(settings)
        return

    async def on_ready(runtime: Runtime) -> None:
        if settings.demo and await runtime.store.event_count() == 0:
            event, secret = await create_demo(runtime.service)
            print_links(runtime.base_url, event, secret)
        runtime.jobs.warm()
        runtime.renderer.warm()
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
        http=serving.http_protocol(settings),  # headers within header_timeout (slowloris)
        limit_concurrency=settings.max_connections,
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
        store = await open_store(settings)
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
        store = await open_store(settings)
        try:
            found = await store.event_by_slug(event)
            if found is None:
                raise click.ClickException(f"no event {event!r} in {storage.describe(settings.database)}")
            board = await store.load_board(found.id)
            assert board is not None
        finally:
            await store.close()
        steps = 2 + (len(board.photos) + 7 if fmt == "zip" else 0)
        with click.progressbar(length=steps, label=f"Writing {fmt}", file=sys.stderr) as bar, open(output, "wb") as out:
            bar.update(1)
            photos = PhotoStore(storage.file_store(settings.database))
            try:
                exporting.write(board, fmt, out, photos, progress=lambda _: bar.update(1))
            finally:
                photos.close()
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
        try:
            document, files = exporting.read_archive(Path(source))
            imported = export_data.from_document(document, new_id)
        except ValueError as problem:
            raise click.ClickException(str(problem)) from None
        store = await open_store(settings)
        photos = PhotoStore(storage.file_store(settings.database))
        service = Service(store, MemoryBus(), photos)
        await service.start()
        try:
            entities = exporting.restore_photos(imported, files, photos)
            return await service.import_event(imported.event_fields, entities)
        finally:
            await service.stop()
            await store.close()
            photos.close()

    event, secret = asyncio.run(run())
    print_links(links.public_base(settings.host, settings.port, settings.public_url), event, secret)


@main.command("backup")
@click.option("--db", default=None, help=HELP["db"])
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="The backup file to write.")
def backup_command(db: str | None, output: str) -> None:
    """Copy the database while the server runs (SQLite's online backup), with its photos."""
    settings = Settings.from_env(db=db)
    target = Path(output)
    where = describe(settings)
    # written beside the target and moved over it only when whole, so a failed backup never
    # leaves a broken file, or a database without its photos, where the last good backup was
    partial = target.with_name(f".{target.name}.partial")
    try:
        storage.check_backup(settings.database, target)
    except StoreError as problem:
        raise click.ClickException(str(problem)) from None
    try:
        storage.discard_backup(partial)
        storage.backup(settings.database, partial)
        storage.install_backup(partial, target)
    except (OSError, StoreError) as problem:
        storage.discard_backup(partial)
        raise click.ClickException(f"could not write the backup {output}: {problem}") from None
    click.echo(f"Backed up {where} to {output}")


@main.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False))
@click.option("--db", default=None, help=HELP["db"])
def restore_command(backup: str, db: str | None) -> None:
    """Make a database from a backup, for a fresh server (refuses to overwrite one)."""
    settings = Settings.from_env(db=db)
    try:
        storage.restore(Path(backup), settings.database)
    except StoreError as problem:
        raise click.ClickException(str(problem)) from None
    click.echo(f"Restored {backup} into {describe(settings)}: clients will resynchronise from a snapshot")


async def open_store(settings: Settings) -> storage.Store:
    """The store the settings name, opened; a wrong URL is a message, not a traceback."""
    try:
        return await storage.open_store(settings.database, log_keep=settings.log_keep)
    except StoreError as problem:
        raise click.ClickException(str(problem)) from None


def describe(settings: Settings) -> str:
    try:
        return storage.describe(settings.database)
    except StoreError as problem:
        raise click.ClickException(str(problem)) from None


@main.command("migrate")
@click.option("--database-url", default=None, help=HELP["database_url"])
@click.option("--db", default=None, help=HELP["db"])
def migrate_command(database_url: str | None, db: str | None) -> None:
    """Bring the database's schema up to date (servers also do it as they start)."""
    settings = Settings.from_env(database_url=database_url, db=db)

    async def run() -> None:
        store = await open_store(settings)  # opening migrates, under a lock when several start at once
        await store.close()

    asyncio.run(run())
    click.echo(f"The schema of {describe(settings)} is up to date")


@main.command("copy")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--database-url", default=None, help="The PostgreSQL database to copy into (postgresql://…).")
def copy_command(source: str, database_url: str | None) -> None:
    """Copy every event of a SQLite file (SOURCE) into PostgreSQL, with its change log and photos."""
    settings = Settings.from_env(database_url=database_url)
    try:
        copied, skipped = storage.copy_events(Path(source), settings.database)
    except StoreError as problem:
        raise click.ClickException(str(problem)) from None
    click.echo(f"Copied {copied} events into {describe(settings)} ({skipped} were there already)")


@main.command("retention")
@click.option("--dry-run", is_flag=True, help="Only list the events that would be deleted.")
@click.option("--days", type=int, default=None, help=HELP["retention_days"])
@click.option("--database-url", default=None, help=HELP["database_url"])
@click.option("--db", default=None, help=HELP["db"])
@click.option("--bus-url", default=None, help=HELP["bus_url"])
def retention_command(
    dry_run: bool, days: int | None, database_url: str | None, db: str | None, bus_url: str | None
) -> None:
    """Delete the events whose last day is more than retention_days days ago (docs/deploy.md).

    Through the write path, as a facilitator's delete: with the servers' bus_url, every worker
    closes the deleted events' screens."""
    settings = Settings.from_env(database_url=database_url, db=db, bus_url=bus_url, retention_days=days)
    if settings.retention_days <= 0:
        raise click.ClickException("retention is off: set OPENSPACE_RETENTION_DAYS or give --days")

    async def run() -> list[Event]:
        store = await open_store(settings)
        try:
            if dry_run:
                return await retention.expired(store, settings.retention_days)
            bus = open_bus(settings.bus_url)
            service = Service(store, bus, PhotoStore(storage.file_store(settings.database)))
            await bus.start()
            await service.start()
            try:
                return await retention.sweep(service, settings.retention_days)
            finally:
                await service.stop()
                flush = getattr(bus, "flush", None)
                if flush is not None:
                    await flush()  # the notices that close screens on every worker
                await bus.stop()
        finally:
            await store.close()

    events = asyncio.run(run())
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {len(events)} events that ended more than {settings.retention_days} days ago")
    for event in events:
        click.echo(f"  {event.slug}  last day {event.ends_on}  {event.name}")

"""`openspace serve --workers N`: several server processes on one host, one port.

uvicorn's supervisor starts the workers and restarts one that dies; they share the listening
socket. The parent first migrates the database and creates the demo event (once, not once per
worker), then hands every setting to the workers through the environment, where
`Settings.from_env` reads them. Workers do not share memory: they need a bus between them
(OPENSPACE_BUS_URL), and to spread over several hosts, PostgreSQL (OPENSPACE_DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import fields

import click
import uvicorn
from starlette.applications import Starlette

from openspace import logs, metrics
from openspace.app import create_app
from openspace.demo import create_demo
from openspace.guard import install_redaction
from openspace.live.bus import MemoryBus
from openspace.live.frames import FrameProtocol
from openspace.runtime import Runtime
from openspace.service import Service
from openspace.settings import Settings
from openspace.store import open_store


def serve_workers(settings: Settings) -> None:
    if settings.bus_url in ("", "memory://"):
        raise click.ClickException("several workers need a bus between them: set --bus-url redis://…")
    asyncio.run(prepare(settings))
    made = os.environ.get(metrics.MULTIPROC_DIR) is None
    if settings.metrics:  # any worker's /metrics answers for all of them (metrics.py)
        metrics.share_between_workers()
    for f in fields(Settings):
        os.environ[f"OPENSPACE_{f.name.upper()}"] = str(getattr(settings, f.name))
    os.environ["OPENSPACE_DEMO"] = "no"  # made above, once
    print(f"openspace is running on http://{settings.host}:{settings.port} with {settings.workers} workers", flush=True)
    uvicorn.run(
        "openspace.workers:worker_app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        ws=FrameProtocol,
        ws_max_size=settings.ws_max_size,
        ws_per_message_deflate=False,
        log_level=settings.log_level,
        proxy_headers=False,
        log_config=None,
    )
    if settings.metrics and made:  # the folder made for this run: its values mean nothing to the next
        shutil.rmtree(os.environ.pop(metrics.MULTIPROC_DIR), ignore_errors=True)


async def prepare(settings: Settings) -> None:
    """Migrate, and make the demo event if the database has none (printing its links)."""
    from openspace.cli import print_links  # the CLI's output format; imported late, it imports us
    from openspace.links import public_base

    store = await open_store(settings.database, log_keep=settings.log_keep)
    try:
        if settings.demo and await store.event_count() == 0:
            service = Service(store, MemoryBus())
            await service.start()
            try:
                event, secret = await create_demo(service)
            finally:
                await service.stop()
            print_links(public_base(settings.host, settings.port, settings.public_url), event, secret)
    finally:
        await store.close()


def worker_app() -> Starlette:
    """One worker's app, from the settings the parent put in the environment."""
    from openspace.cli import settle_heap

    settings = Settings.from_env()
    logs.configure(settings.log_format, settings.log_level)  # a worker is a fresh process: no handlers yet
    install_redaction()

    def on_ready(runtime: Runtime) -> None:
        runtime.jobs.warm()
        runtime.renderer.warm()
        settle_heap()

    return create_app(settings, on_ready=on_ready)

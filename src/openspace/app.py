"""The app factory: `create_app(settings)` wires storage, hub, service and routes in the lifespan.

Nothing is opened at import time, so tests build as many independent apps as they like.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from openspace import i18n, links, logs, metrics, serving
from openspace.cowriting import Cowriting
from openspace.domain.errors import N_
from openspace.guard import redact
from openspace.jobs import Cache, JobPool, worker_count
from openspace.limits import Limits
from openspace.live import ws
from openspace.live.bus import open_bus
from openspace.live.feed import Feed
from openspace.live.hub import LocalHub
from openspace.live.webhooks import DeliveryWorker, Policy
from openspace.media import PhotoStore
from openspace.outward import Outward
from openspace.retention import Keeper
from openspace.runtime import Logins, Runtime
from openspace.security import LANG_COOKIE, CookieSigner, SecurityHeadersMiddleware
from openspace.service import Service
from openspace.settings import Settings
from openspace.store import Store, file_store, open_store
from openspace.tasks import stop_tasks
from openspace.web import packing
from openspace.web import routes as web
from openspace.web.rendering import Renderer

log = logging.getLogger(__name__)

# Starlette's default, 9, took 1.8 times the CPU of 6 on a participant page (1.7 against 0.95 ms
# for 126 KB) for 2 % fewer bytes: at a join storm every page is compressed once per phone (#20).
# The participant page compresses itself at the same level, in parts (web/packing.py).
GZIP_LEVEL = packing.LEVEL
# compressed already: a PDF's streams are deflated, so gzip spent a thread's CPU on every download
# for nothing (#21: 2,600 downloads of the published book in 10 s, honest p99 x1.7)
NOT_GZIPPED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/pdf")

ERROR_TITLES = {
    403: N_("You cannot do that"),
    404: N_("Not found"),
    405: N_("That is not possible here"),
    413: N_("That was too large"),
    500: N_("Something went wrong on the server"),
}
ERROR_TEXTS = {
    403: N_("You do not have the right to see this page."),
    404: N_("There is nothing at this address. Check the link, or ask the facilitator for it again."),
    405: N_("This address does not accept that kind of request."),
    413: N_("What you sent was larger than the server accepts. Please send something smaller."),
    500: N_("The server failed to answer. Please try again in a moment."),
}


def create_app(settings: Settings, on_ready: Callable[[Runtime], object] | None = None) -> Starlette:
    renderer = Renderer()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(settings.database, log_keep=settings.log_keep)
        secret_key = settings.secret_key or await stored_secret(store, "secret_key")
        epoch = await stored_secret(store, "epoch")
        hub = LocalHub(max_lag=settings.max_lag, keep=settings.log_keep)
        bus = open_bus(settings.bus_url)
        photos = PhotoStore(file_store(settings.database))  # the store's files, outside the web root
        counted = metrics.Counted(bus)  # changes by kind and per commit, as the write path publishes them
        service = Service(store, counted, photos)
        service.on_commit.append(counted.committed)
        service.on_put_off.append(metrics.PUT_OFF.inc)  # another worker held an event: lock contention
        service.on_durable.append(metrics.durable)  # queued → committed, per write
        feed = Feed(store, hub, service)
        bus.subscribe(feed.take, feed.resync)
        logins = Logins(store)  # slugs and cookies answered from memory, forgotten as the bus says
        bus.subscribe(logins.take, logins.clear)
        outward = Outward(store, service, calendar_key=secret_key)
        deliveries = DeliveryWorker(outward, policy(settings))
        service.on_queued.append(deliveries.wake)  # the outbox may have new rows: look now
        cowriting = Cowriting(service, bus)  # a report's updates reach its screens on every process
        jobs = JobPool(
            worker_count(settings.jobs_workers),
            settings.jobs_queue,
            settings.jobs_timeout,
            settings.jobs_memory_mb,
            metrics.JobCounts(),
        )
        service.offload = jobs.run
        exports = Cache(settings.export_cache, evict=lambda path: Path(path).unlink(missing_ok=True))
        service.erased.append(exports.forget)  # a built file may hold the erased name
        await hub.start()
        await bus.start()
        await service.start()
        await deliveries.start()
        keeper = Keeper(service, settings.retention_days)  # events past retention, hourly (#17)
        await keeper.start()
        flusher = asyncio.create_task(metrics.flushing(), name="openspace-metrics")  # the hot path's tally
        runtime = Runtime(
            settings=settings,
            store=store,
            hub=hub,
            service=service,
            renderer=renderer,
            signer=CookieSigner(secret_key),
            base_url=links.public_base(settings.host, settings.port, settings.public_url),
            database_epoch=epoch[:12],
            photos=photos,
            outward=outward,
            cowriting=cowriting,
            jobs=jobs,
            limits=(limits := Limits(settings)),
            exports=exports,
            logins=logins,
        )
        app.state.runtime = runtime
        app.state.bus = bus
        if on_ready is not None:
            result = on_ready(runtime)
            if hasattr(result, "__await__"):
                await result
        try:
            yield
        finally:
            await keeper.stop()
            await deliveries.stop()
            await hub.stop()
            await cowriting.stop()
            await service.stop()
            await bus.stop()
            await feed.settle()
            await store.close()
            photos.close()
            exports.clear()
            jobs.close()
            await stop_tasks([flusher])
            metrics.worker_stopped()
            await limits.close()

    async def static(request: Request) -> Response:
        """Static files under a version hash: cached for a year, since a change changes the URL."""
        if "\x00" in request.path_params["path"]:  # resolve() raises on NUL: a 404, not a 500 (#21, 15)
            raise HTTPException(404)
        path = (renderer.static_root / request.path_params["path"]).resolve()
        if request.path_params["version"] != renderer.version or not is_inside(path, renderer.static_root):
            raise HTTPException(404)
        if not path.is_file():
            raise HTTPException(404)
        return FileResponse(path, headers={"cache-control": "public, max-age=31536000, immutable"})

    async def healthz(request: Request) -> Response:
        """Alive: the process answers. A supervisor restarts a worker that stops answering this."""
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        """Ready for traffic: the database answers and the bus is subscribed. A proxy sends clients
        elsewhere while this says 503 (a worker starting, or cut off from Redis or PostgreSQL)."""
        runtime: Runtime = request.app.state.runtime
        problems = []
        try:
            await runtime.store.event_count()
        except Exception:
            problems.append("database")
        if not getattr(request.app.state.bus, "ready", True):
            problems.append("bus")
        if problems:
            return PlainTextResponse("not ready: " + ", ".join(problems), status_code=503)
        return PlainTextResponse("ready")

    async def metrics_page(request: Request) -> Response:
        """Prometheus metrics (#17): only when the setting is on, and only to the allowed."""
        if not settings.metrics:
            raise HTTPException(404)
        client = request.client.host if request.client else None
        if not metrics.allowed(settings, client, dict(request.headers)):
            return PlainTextResponse("forbidden", status_code=403)
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    async def favicon(request: Request) -> Response:
        """Browsers ask for /favicon.ico whatever the page says: answer rather than log a 404."""
        return FileResponse(renderer.static_root / "favicon.svg", media_type="image/svg+xml")

    async def error_page(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 500:
            log.error("request failed: %s %s", request.method, redact(request.url.path), exc_info=exc)
        i18n.set_language(
            i18n.choose_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), "")
        )
        title = i18n.gettext(ERROR_TITLES.get(status, ERROR_TITLES[500]))
        text = i18n.gettext(ERROR_TEXTS.get(status, ERROR_TEXTS[500]))
        body = renderer.render("error.html", error={"message": text}, title=title, event=None, path=request.url.path)
        return HTMLResponse(body, status_code=status)

    app = Starlette(
        routes=[
            *web.ROUTES,
            *ws.ROUTES,
            Route("/static/{version}/{path:path}", static, name="static"),
            Route("/favicon.ico", favicon, name="favicon"),
            Route("/healthz", healthz, name="healthz"),
            Route("/readyz", readyz, name="readyz"),
            Route("/metrics", metrics_page, name="metrics"),
        ],
        middleware=[
            Middleware(serving.Turns),  # first: a live page's ask waits here, before any other work
            Middleware(logs.RequestIds),  # every line about this request carries its id
            Middleware(TrustedHostMiddleware, allowed_hosts=serving.allowed_hosts(settings)),  # DNS rebinding
            Middleware(serving.PenaltyBox),  # an address refused too often is refused at the door (#21)
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                GZipMiddleware, minimum_size=packing.SMALL, compresslevel=GZIP_LEVEL, exclude_content_types=NOT_GZIPPED
            ),
        ],
        exception_handlers={HTTPException: error_page, Exception: error_page},
        lifespan=lifespan,
    )
    renderer.use_routes(app.routes)  # templates build every link from this route table
    return app


def policy(settings: Settings) -> Policy:
    """How webhooks are delivered, from the settings (#18)."""
    return Policy(
        allow_private=settings.webhook_allow_private,
        timeout=float(settings.webhook_timeout),
        first_retry=settings.webhook_retry_ms / 1000,
        attempts=settings.webhook_attempts,
    )


def is_inside(path: Path, root: Path) -> bool:
    return path == root.resolve() or root.resolve() in path.parents


async def stored_secret(store: Store, key: str) -> str:
    """A random value made once per database and kept in it (so cookies survive restarts)."""
    value = await store.meta(key)
    if value is None:
        await store.set_meta(key, secrets.token_urlsafe(32))
        value = await store.meta(key)
    assert value is not None
    return value

"""What a running server holds, built in the app's lifespan and reached from `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from openspace.cowriting import Cowriting
from openspace.domain.model import Event
from openspace.domain.rules import Actor
from openspace.guard import LoginGuard
from openspace.security import (
    CSRF_COOKIE,
    FACILITATOR_COOKIE,
    PARTICIPANT_COOKIE,
    CookieSigner,
    browser_key,
    hash_token,
)

if TYPE_CHECKING:  # the parts are built in app.py; naming them here must not make runtime depend on them
    from openspace.jobs import Cache, JobPool
    from openspace.limits import Limits
    from openspace.live.hub import Fanout
    from openspace.media import PhotoStore
    from openspace.outward import Outward
    from openspace.service import Service
    from openspace.settings import Settings
    from openspace.store.base import Store
    from openspace.web.rendering import Renderer


@dataclass
class Runtime:
    settings: Settings
    store: Store
    hub: Fanout
    service: Service
    renderer: Renderer
    signer: CookieSigner
    base_url: str
    database_epoch: str
    photos: PhotoStore
    outward: Outward
    cowriting: Cowriting
    jobs: JobPool
    limits: Limits
    exports: Cache  # built export files by (event, seq, format, audience)
    login_limit: LoginGuard = field(default_factory=LoginGuard)

    def epoch(self, event_id: str) -> str:
        """Names this database and event, so a resume point from elsewhere is never trusted."""
        return f"{self.database_epoch}.{event_id}"

    async def actor(self, conn: HTTPConnection, event: Event) -> Actor:
        """Who this request is, for this event only: cookies are looked up within the event."""
        participant_id, name, facilitator = None, "", False
        token = self.signer.unsign(conn.cookies.get(PARTICIPANT_COOKIE))
        if token:
            found = await self.store.participant_by_token(event.id, hash_token(token))
            if found:
                participant_id, name = found
        token = self.signer.unsign(conn.cookies.get(FACILITATOR_COOKIE))
        if token:
            facilitator = await self.store.facilitator_session(event.id, hash_token(token))
        browser = browser_key(conn.cookies.get(CSRF_COOKIE))
        secret = self.signer.derive(f"participant|{participant_id}") if participant_id else ""
        return Actor(participant_id=participant_id, name=name, facilitator=facilitator, browser=browser, secret=secret)


def runtime_of(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime

"""What a running server holds, built in the app's lifespan and reached from `request.app.state`;
and who is asking, looked up in memory."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from openspace.broadcast import Message, Notice
from openspace.cowriting import Cowriting
from openspace.domain.errors import NotFound
from openspace.domain.model import Event
from openspace.domain.rules import Actor
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


class Logins:
    """Which event a slug names and who a cookie names, served from memory (issue #20).

    Every page, form post and socket upgrade starts with these lookups; at a join storm or a
    reconnect storm they queued behind the store's one reader. What they answer seldom changes,
    and only through the write path, which tells every process over the bus: a slug names its
    event for good (the event's fields come from its cached board), until the event is deleted; a
    participant's token names them for good, and their name changes by a rename or an erasure
    (a `Notice` "renamed"); a facilitator's session ends when the link is replaced ("reauth") or
    the event deleted. Only what was found is kept (a stranger's guesses fill nothing), in bounded
    tables; after the bus may have lost messages (`clear`), everything is read again. A lookup
    under way while something is forgotten is not kept: it may have read what was just changed.
    """

    def __init__(self, store: Store, limit: int = 100_000) -> None:
        self.store = store
        self.limit = limit
        self.slugs: dict[str, str] = {}  # slug -> event id
        self.people: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()  # (event, token hash) -> id, name
        self.facilitators: OrderedDict[tuple[str, str], None] = OrderedDict()  # (event, token hash) of live sessions
        self.generation = 0  # moves on whenever anything is forgotten
        self.reads = 0  # lookups that went to the store (for tests and the benchmark)

    async def event(self, service: Service, slug: str) -> Event | None:
        event_id = self.slugs.get(slug)
        if event_id is not None:
            try:
                return (await service.board(event_id)).event
            except NotFound:  # deleted, and the notice not here yet
                self.slugs.pop(slug, None)
                return None
        generation, self.reads = self.generation, self.reads + 1
        event = await self.store.event_by_slug(slug)
        if event is not None and generation == self.generation:
            if len(self.slugs) >= self.limit:
                self.slugs.clear()
            self.slugs[slug] = event.id
        return event

    async def participant(self, event_id: str, token_hash: str) -> tuple[str, str] | None:
        key = (event_id, token_hash)
        found = self.people.get(key)
        if found is not None:
            self.people.move_to_end(key)
            return found
        generation, self.reads = self.generation, self.reads + 1
        found = await self.store.participant_by_token(event_id, token_hash)
        if found is not None and generation == self.generation:
            self.people[key] = found
            while len(self.people) > self.limit:
                self.people.popitem(last=False)
        return found

    async def facilitator(self, event_id: str, token_hash: str) -> bool:
        key = (event_id, token_hash)
        if key in self.facilitators:
            self.facilitators.move_to_end(key)
            return True
        generation, self.reads = self.generation, self.reads + 1
        found = await self.store.facilitator_session(event_id, token_hash)
        if found and generation == self.generation:
            self.facilitators[key] = None
            while len(self.facilitators) > self.limit:
                self.facilitators.popitem(last=False)
        return found

    def take(self, message: Message) -> None:
        """The bus's listener: forget what a notice says has changed, on every process."""
        if not isinstance(message, Notice):
            return
        self.generation += 1
        event_id = message.event_id
        if message.what == "renamed":
            for key in [k for k, (who, _) in self.people.items() if k[0] == event_id and who == message.subject]:
                del self.people[key]
            return
        for key in [k for k in self.facilitators if k[0] == event_id]:
            del self.facilitators[key]
        if message.what == "deleted":
            for slug in [s for s, e in self.slugs.items() if e == event_id]:
                del self.slugs[slug]
            for key in [k for k in self.people if k[0] == event_id]:
                del self.people[key]

    def clear(self) -> None:
        """Messages may have been lost (the bus reconnected): read everything again."""
        self.generation += 1
        self.slugs.clear()
        self.people.clear()
        self.facilitators.clear()


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
    logins: Logins

    def epoch(self, event_id: str) -> str:
        """Names this database and event, so a resume point from elsewhere is never trusted."""
        return f"{self.database_epoch}.{event_id}"

    async def event(self, slug: str) -> Event | None:
        """The event a slug names, as its cached board has it (`Logins`)."""
        return await self.logins.event(self.service, slug)

    async def actor(self, conn: HTTPConnection, event: Event) -> Actor:
        """Who this request is, for this event only: cookies are looked up within the event."""
        participant_id, name, facilitator = None, "", False
        token = self.signer.unsign(conn.cookies.get(PARTICIPANT_COOKIE))
        if token:
            found = await self.logins.participant(event.id, hash_token(token))
            if found:
                participant_id, name = found
        token = self.signer.unsign(conn.cookies.get(FACILITATOR_COOKIE))
        if token:
            facilitator = await self.logins.facilitator(event.id, hash_token(token))
        browser = browser_key(conn.cookies.get(CSRF_COOKIE))
        secret = self.signer.derive(f"participant|{participant_id}") if participant_id else ""
        return Actor(participant_id=participant_id, name=name, facilitator=facilitator, browser=browser, secret=secret)


def runtime_of(conn: HTTPConnection) -> Runtime:
    runtime: Runtime = conn.app.state.runtime
    return runtime

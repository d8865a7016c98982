"""The harvest: session reports written by many hands, photos, dot-voting and action items.

Reports are written together live (cowrite.py, issue #16); a form saved without JavaScript
carries the revision it started from, and if someone wrote in between, the two are merged line by
line against that base (merge3, as version control does), keeping both where both changed the
same lines: nothing is refused and no word is lost. Every revision is kept.
Pure like rules.py: the clock is `ctx.now`; Markdown is rendered by markup.py (no I/O).

Every change that writes a report, a photo or an action item also carries the topic's row as it
is: a change is projected for the public on its own (projection.py), and the topic's status in it
is what keeps a hidden topic's harvest from the public.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import date, datetime, timedelta

import orjson

from openspace.domain import markup
from openspace.domain.checks import Actor, Args, Context, Rule, boolean, integer, ref, require_facilitator, text
from openspace.domain.effects import FilesRemoved
from openspace.domain.errors import N_, DomainError, Forbidden, Invalid, NotFound
from openspace.domain.model import ActionItem, Board, Change, Entity, EntityKind, Photo, Report, Revision, Topic, Vote
from openspace.domain.textmerge import union_merge

FIELDS = ("participants", "discussion", "insights", "recommendations")
LIMITS = {"participants": 2000, "discussion": 10_000, "insights": 10_000, "recommendations": 10_000}
MAX_PHOTOS = 30  # per session
MAX_REVISIONS = 25  # versions kept per report: enough to merge and to bring one back, bounded
MAX_PERSON_PHOTOS = 60  # per participant and event
MAX_EVENT_PHOTOS = 1500  # per event: about 3 GB at worst (noise), far less for flip-charts
MAX_DOTS = 10


def fields_of(report: Report | None) -> dict[str, str]:
    return {f: getattr(report, f) if report else "" for f in FIELDS}


def typed_fields(args: Args) -> dict[str, str]:
    """The four texts as a save reads them: a browser's CRLF line ends made LF, and trimmed."""
    return {f: text(args, f, "report", required=False)[: LIMITS[f] + 1] for f in FIELDS}


def rendered_texts(args: Args) -> dict[str, str]:
    """A save's texts rendered (in a job pool worker), for the writer to find (markup.remember)."""
    try:
        return markup.rendered(list(typed_fields(args).values()))
    except DomainError:  # refused input is refused by the writer, as ever
        return {}


def base_fields(board: Board, topic_id: str, base: int) -> dict[str, str] | None:
    """The texts of revision `base` (all empty for 0); None when that revision is unknown."""
    if base == 0:
        return fields_of(None)
    row = board.revisions.get(f"{topic_id}:{base}")
    return orjson.loads(row.fields) if row else None


def writable_topic(board: Board, args: Args, ctx: Context) -> tuple[Topic, Report | None]:
    """Anyone in the event may add to a report, unless the facilitator has locked it."""
    if ctx.actor.participant_id is None and not ctx.actor.facilitator:
        raise Forbidden(N_("Please join the event with your name first."))
    topic: Topic = ref(board, args, "topic", "topics")
    if topic.status != "open" and not ctx.actor.facilitator:
        raise NotFound(N_("That topic no longer exists. It may have been withdrawn."), field="topic")
    report = board.reports.get(topic.id)
    if report is not None and report.locked and not ctx.actor.facilitator:
        raise Forbidden(N_("The facilitator has locked this report."))
    return topic, report


def new_revision(
    board: Board, topic: Topic, report: Report | None, texts: dict[str, str], ctx: Context, kind: str
) -> Change:
    number = (report.revision if report else 0) + 1
    saved = Report(
        id=topic.id,
        **texts,
        html=markup.stored_html(texts),
        revision=number,
        locked=report.locked if report else False,
        updated_at=ctx.now,
    )
    history = Revision(
        id=f"{topic.id}:{number}",
        topic_id=topic.id,
        revision=number,
        fields=orjson.dumps(texts).decode(),
        author=ctx.actor.name or "",
        created_at=ctx.now,
    )
    # revisions are bounded (issue #21, case 6: 600 saves added 75 MiB, all of it also held in
    # memory): the oldest beyond MAX_REVISIONS go, so a report holds at most that many versions
    expired: tuple[tuple[EntityKind, str], ...] = tuple(
        ("revisions", r.id)
        for r in board.revisions.values()
        if r.topic_id == topic.id and r.revision <= number - MAX_REVISIONS
    )
    return Change(kind, upserts=(topic, saved, history), deletes=expired, result={"revision": number})


def save_report(board: Board, args: Args, ctx: Context) -> Change:
    """A whole form's texts, merged line by line against the version the form was based on: the
    texts it showed (`was_<field>`, since typing together changes a report between versions), or
    else the revision number `base`.

    The others' edits since then and ours combine; where both changed the same lines both are
    kept (union_merge), so a save is never refused for a clash and untouched fields stay as the
    others left them. A base the server does not know (forged, or from the future) merges from
    empty: the texts then appear twice rather than one of them being lost.
    """
    topic, report = writable_topic(board, args, ctx)
    ours = typed_fields(args)
    for name, value in ours.items():
        if len(value) > LIMITS[name]:
            raise Invalid(N_("This is too long: at most %(max)s characters."), field=name, max=LIMITS[name])
    base_number = integer(args, "base", 0, 10**9) or 0
    current = fields_of(report)
    current_number = report.revision if report else 0
    merged = dict(ours)
    shown = {f: text(args, f"was_{f}", "report", required=False) for f in FIELDS if f"was_{f}" in args}
    if len(shown) == len(FIELDS):  # the texts the form showed: what typing together changed since merges
        merged = {name: union_merge(shown[name], ours[name], current[name])[: LIMITS[name]] for name in FIELDS}
    elif base_number != current_number:
        base = (base_fields(board, topic.id, base_number) if base_number < current_number else None) or fields_of(None)
        merged = {name: union_merge(base[name], ours[name], current[name])[: LIMITS[name]] for name in FIELDS}
    if merged == current and report is not None:
        return Change("report.saved", result={"revision": current_number, "unchanged": True})
    change = new_revision(board, topic, report, merged, ctx, "report.saved")
    return replace(change, result={**change.result, "merged": merged != ours})


VERSION_EVERY = timedelta(minutes=5)


def checkpoint_report(board: Board, args: Args, ctx: Context) -> Change:
    """Text typed together reaches the event's change log, as it stands (cowriting.py, issue #16).

    Every keystroke already changed the report's row (durably, without reaching every phone of
    the event); a checkpoint, a moment after the typing pauses, publishes the row as it stands,
    so the news room and the proceedings follow. It keeps a saved version for the facilitator
    when the last one is older than VERSION_EVERY, naming who wrote since.
    """
    topic: Topic = ref(board, args, "topic", "topics")
    report = board.reports.get(topic.id)
    if report is None:
        return Change("report.saved", result={"unchanged": True})
    last = max((r for r in board.revisions.values() if r.topic_id == topic.id), key=lambda r: r.revision, default=None)
    due = last is None or datetime.fromisoformat(ctx.now) - datetime.fromisoformat(last.created_at) >= VERSION_EVERY
    if due and (last is None or orjson.loads(last.fields) != fields_of(report)):
        who = replace(ctx.actor, name=str(args.get("authors") or ""))
        return new_revision(board, topic, report, fields_of(report), replace(ctx, actor=who), "report.saved")
    html = markup.stored_html(fields_of(report))  # typing left it to the checkpoint (markup.report_html)
    return Change("report.saved", upserts=(topic, replace(report, html=html)), result={"revision": report.revision})


def lock_report(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    topic: Topic = ref(board, args, "topic", "topics")
    report = board.reports.get(topic.id) or Report(id=topic.id, updated_at=ctx.now)
    return Change("report.locked", upserts=(topic, replace(report, locked=boolean(args, "locked"))))


def restore_report(board: Board, args: Args, ctx: Context) -> Change:
    """The facilitator brings back an earlier version, as a new revision (history stays whole)."""
    require_facilitator(ctx)
    topic: Topic = ref(board, args, "topic", "topics")
    number = integer(args, "revision", 1, 10**9)
    row = board.revisions.get(f"{topic.id}:{number}")
    if row is None:
        raise NotFound(N_("That version of the report does not exist."), field="revision")
    return new_revision(board, topic, board.reports.get(topic.id), orjson.loads(row.fields), ctx, "report.restored")


def uploader_tag(random_part: str, key: str) -> str:
    """A keyed hash: without the key, which only the server holds, nobody can compute it."""
    return hmac.new(key.encode(), f"openspace-photo|{random_part}".encode(), hashlib.sha256).hexdigest()[:16]


def legacy_tag(random_part: str, participant_id: str) -> str:
    """The tag photos were given before issue #21: anyone who knew the (public) convener id could
    compute it. Still recognised, so their uploaders can remove them; never made any more."""
    return hashlib.sha256(f"openspace-photo|{random_part}|{participant_id}".encode()).hexdigest()[:16]


def uploader_key(actor: Actor) -> str:
    """The key that tags this participant's photos: the server's per-participant secret."""
    return actor.secret or f"unkeyed|{actor.participant_id}"  # only tests build an actor without one


def photo_id(random_part: str, actor: Actor) -> str:
    """A new photo's id, by which its uploader, and only they, can tell the photo is theirs.

    The board keeps no uploader column (nobody is shown who took which photo), so the id carries
    a keyed hash of its random part under a secret the server derives for the uploader. The
    participant ids are public (a topic's convener), so a plain hash of the id would let anyone
    attribute every photo (issue #21, case 14). Photos the facilitator uploads, or that came with
    an import, have none.
    """
    if not actor.participant_id:
        return random_part
    return f"{random_part}.{uploader_tag(random_part, uploader_key(actor))}"


def uploaded_by(photo: Photo, actor: Actor) -> bool:
    random_part, _, tag = photo.id.partition(".")
    if not (actor.participant_id and tag):
        return False
    return hmac.compare_digest(tag, uploader_tag(random_part, uploader_key(actor))) or hmac.compare_digest(
        tag, legacy_tag(random_part, actor.participant_id)
    )


def may_remove_photo(board: Board, photo: Photo, actor: Actor) -> bool:
    """The facilitator, the session's conveners, and whoever added the photo while they may still
    add photos there (the topic open, the report not locked)."""
    topic = board.topics.get(photo.topic_id)
    if actor.facilitator or (topic is not None and topic.convened_by(actor.participant_id)):
        return True
    report = board.reports.get(photo.topic_id)
    open_to_them = topic is not None and topic.status == "open" and not (report and report.locked)
    return open_to_them and uploaded_by(photo, actor)


def photo_room(board: Board, topic_id: str, actor: Actor, adding: int = 1) -> None:
    """Refuse when the session, the event or the person has its photos already (issue #21, case 8):
    a stored photo is at most FULL_SIDE pixels a side, a few MB, so these counts bound the disk.
    Asked again before an upload is even read, so a full session costs no parsing of 75 MB."""
    if sum(1 for p in board.photos.values() if p.topic_id == topic_id) + adding > MAX_PHOTOS:
        raise Invalid(N_("A session can have at most %(max)s photos."), max=MAX_PHOTOS)
    if len(board.photos) + adding > MAX_EVENT_PHOTOS:
        raise Invalid(N_("This event has reached its limit of %(max)s photos."), max=MAX_EVENT_PHOTOS)
    if actor.participant_id and not actor.facilitator:
        if sum(1 for p in board.photos.values() if uploaded_by(p, actor)) + adding > MAX_PERSON_PHOTOS:
            raise Invalid(
                N_("You have added as many photos as one person may: %(max)s."), field="photos", max=MAX_PERSON_PHOTOS
            )


def add_photo(board: Board, args: Args, ctx: Context) -> Change:
    """Record the photos of one upload, which the web layer has already re-encoded and stored
    under random names: all of them as one change, so five photos are one frame to every screen,
    not five (#21, the abuse bench's upload loop). `photos` lists them."""
    topic, _ = writable_topic(board, args, ctx)
    items = args.get("photos")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PHOTOS or not all(isinstance(i, dict) for i in items):
        raise Invalid(N_("Choose a photo first."), field="photos")
    photo_room(board, topic.id, ctx.actor, adding=len(items))
    photos = []
    for item in items:
        width, height, thumb_width, thumb_height = (
            integer(item, k, 1, 100_000) or 1 for k in ("width", "height", "thumb_width", "thumb_height")
        )
        photos.append(
            Photo(
                id=photo_id(ctx.new_id(), ctx.actor),
                topic_id=topic.id,
                name=str(item.get("name", "")),
                width=width,
                height=height,
                thumb_width=thumb_width,
                thumb_height=thumb_height,
                created_at=ctx.now,
            )
        )
    return Change("photo.added", upserts=(topic, *photos), result={"photos": [p.id for p in photos]})


def remove_photo(board: Board, args: Args, ctx: Context) -> Change:
    photo: Photo = ref(board, {"photo": args.get("photo")}, "photo", "photos")
    if not may_remove_photo(board, photo, ctx.actor):
        report = board.reports.get(photo.topic_id)
        if report is not None and report.locked and uploaded_by(photo, ctx.actor):
            raise Forbidden(N_("The facilitator has locked this report."))
        raise Forbidden(N_("Only whoever added a photo, the convener of its session or the facilitator can remove it."))
    return Change(
        "photo.removed",
        deletes=(("photos", photo.id),),
        result={"name": photo.name},
        effects=(FilesRemoved((photo.name,)),),
    )


# --- convergence: dot-voting and action items ------------------------------------------------


def publish(board: Board, args: Args, ctx: Context) -> Change:
    """Open the proceedings to anyone with the event's link, or close them again."""
    require_facilitator(ctx)
    return Change("proceedings.published", event=replace(board.event, published=boolean(args, "published")))


def open_voting(board: Board, args: Args, ctx: Context) -> Change:
    """Open, change or close the vote; with `new_round`, every dot given so far is taken back first.

    Closing and opening again continues the same round (a vote closed by mistake loses nothing);
    a second vote on the same sessions is a new round, which only the facilitator can start.
    """
    require_facilitator(ctx)
    dots = integer(args, "dots", 0, MAX_DOTS) or 0
    event = replace(board.event, voting_dots=dots)
    if not boolean(args, "new_round"):
        return Change("voting.set", event=event)
    upserts = tuple(replace(t, dots=0) for t in board.ordered_topics() if t.dots)
    deletes: tuple[tuple[EntityKind, str], ...] = tuple(("votes", v) for v in sorted(board.votes))
    return Change("voting.new_round", upserts=upserts, deletes=deletes, event=event, result={"cleared": len(deletes)})


def rows_of(board: Board, topic_id: str) -> list[Entity]:
    """A topic's report, photos and action items, unchanged. The public got none of them while
    the topic was hidden or merged away, so a change that makes it visible again carries them
    along, and the projection sends them with the topic."""
    report = board.reports.get(topic_id)
    return [
        *([report] if report else []),
        *(p for p in board.photos.values() if p.topic_id == topic_id),
        *(a for a in board.actions.values() if a.topic_id == topic_id),
    ]


def has_report(board: Board, topic: Topic) -> bool:
    report = board.reports.get(topic.id)
    return report is not None and any(fields_of(report).values())


def vote(board: Board, args: Args, ctx: Context) -> Change:
    """Give or take back one dot; never more dots than the round allows."""
    person = ctx.actor.participant_id
    if person is None:
        raise Forbidden(N_("Please join the event with your name first."))
    if not board.event.voting_dots:
        raise Forbidden(N_("No vote is open right now."))
    topic: Topic = ref(board, args, "topic", "topics")
    if topic.status != "open" or not has_report(board, topic):
        raise Invalid(N_("Only sessions with a report can get dots."), field="topic")
    mine = [v for v in board.votes.values() if v.participant_id == person]
    allowed = board.event.voting_dots  # may have been lowered below what someone has given: never "-1 left"
    if boolean(args, "on"):
        if len(mine) >= board.event.voting_dots:
            raise Invalid(N_("You have used all your %(max)s dots."), max=board.event.voting_dots)
        used = {v.id for v in mine}
        slot = next(f"{person}|{n}" for n in range(1, len(mine) + 2) if f"{person}|{n}" not in used)
        upserts: tuple[Entity, ...] = (replace(topic, dots=topic.dots + 1), Vote(slot, person, topic.id))
        return Change("vote.given", upserts=upserts, result={"left": max(0, allowed - len(mine) - 1)})
    given = sorted(v.id for v in mine if v.topic_id == topic.id)
    if not given:
        return Change("vote.taken", result={"unchanged": True, "left": max(0, allowed - len(mine))})
    deletes: tuple[tuple[EntityKind, str], ...] = (("votes", given[-1]),)
    left = max(0, allowed - len(mine) + 1)
    return Change("vote.taken", upserts=(replace(topic, dots=topic.dots - 1),), deletes=deletes, result={"left": left})


def add_action(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    topic: Topic = ref(board, args, "topic", "topics")
    what = text(args, "what", "action")
    who = text(args, "who", "name", required=False)
    due = text(args, "due", "venue", required=False)
    if due:
        try:
            due = date.fromisoformat(due).isoformat()
        except ValueError:
            raise Invalid(N_("Please give a date as YYYY-MM-DD."), field="due") from None
    item = ActionItem(ctx.new_id(), topic.id, what, who, due)
    return Change("action.added", upserts=(topic, item), result={"action": item.id})


def remove_action(board: Board, args: Args, ctx: Context) -> Change:
    require_facilitator(ctx)
    item = ref(board, {"action": args.get("action")}, "action", "actions")
    return Change("action.removed", deletes=(("actions", item.id),))


INTERNAL: dict[str, Rule] = {  # only the server's own edges: the upload handler, the co-writing checkpoint
    "photo.add": add_photo,
    "report.checkpoint": checkpoint_report,
}
COMMANDS: dict[str, Rule] = {
    "report.save": save_report,
    "report.lock": lock_report,
    "report.restore": restore_report,
    "photo.remove": remove_photo,
    "voting.set": open_voting,
    "proceedings.publish": publish,
    "vote": vote,
    "action.add": add_action,
    "action.remove": remove_action,
}

"""What a live page's region refresh costs (issue #14): server time per answer and bytes on the wire.

A page left open asks its own address again after each burst of changes, with the hashes of the
regions it has (web/regions.py), and gets the regions that changed. This measures, in-process
(Starlette's TestClient, no network), on an event of 60 sessions in 6 rooms x 10 slots with
`PEOPLE` joined participants who each marked 3 interests:

- the server time of one answer per page (median and p90 over the iterations), which is the
  whole page rendered for that person, then cut and hashed; for a visitor who has not joined
  (and the projector) the render is shared by all such visitors (`Visit.shared_render`), so
  their repeated asks at one seq measure that sharing;
- the bytes of the answer's body as gzip sends it (at the app's own level) after each kind of
  typical change, for a page that had every region before it; the first answer a page gets
  (every region, once per page load); and the `X-Regions` request header (the hashes the page
  has), which goes up uncompressed with every ask;
- the join storm's figures (issue #20): server CPU per plain GET of a joined phone's
  participant page (gzip accepted), against a bare Starlette + Jinja2 app serving a page of the
  same size at the same gzip level in the same run (the ratio); and server CPU per join, a new
  phone's GET page, POST join and GET page. Server CPU is the process's less the client's
  thread (the app runs in the test client's portal thread, the database in its own); the
  whole process's, client included, is printed beside it.

Run: `.venv/bin/python -m bench.regions` (about a minute); `make bench` runs it too.
"""

from __future__ import annotations

import gzip
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from openspace.app import create_app
from openspace.settings import Settings

ORIGIN = "http://bench"
SPACES, SLOTS, PEOPLE = 6, 10, 40
REGION_TARGET = 2_000  # bytes, compressed: what a typical change may cost a phone (#14)
GET_RATIO_TARGET = 1.3  # a joined phone's page GET against the bare page (#20)
JOIN_TARGET_MS = 2.5  # CPU per join: GET page, POST join, GET page (#20)


def _csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def _act(client: TestClient, slug: str, action: str, return_to: str = "facilitate", **args: str) -> None:
    data = {"csrf": client.cookies.get("os_csrf") or "", "_action": action, "_return_to": return_to, **args}
    response = client.post(f"/e/{slug}/act", data=data, headers={"origin": ORIGIN})
    assert response.status_code == 303, (action, response.status_code)


def _other(client: TestClient) -> TestClient:
    other = TestClient(client.app, base_url=ORIGIN, follow_redirects=False)
    other.portal = client.portal
    return other


def _state(client: TestClient, slug: str) -> dict[str, Any]:
    return client.get(f"/e/{slug}/state.json").json()  # type: ignore[no-any-return]


def build(client: TestClient) -> tuple[str, TestClient, TestClient]:
    """The event, its facilitator's client and one participant's (who convenes a topic)."""
    fac = _other(client)
    form = {"csrf": _csrf(fac, "/new"), "name": "Bench", "starts_on": "2026-03-14", "ends_on": "2026-03-15",
            "timezone": "Europe/Stockholm", "language": "en"}  # fmt: skip
    created = fac.post("/new", data=form)  # answered with a redirect to the page with the links
    page = fac.get(created.headers["location"]).text if created.status_code == 303 else created.text
    slug = re.search(r"/e/([a-z0-9]+)/f/", page).group(1)  # type: ignore[union-attr]
    for n in range(SPACES):
        _act(fac, slug, "space.add", name=f"Room {n + 1}", capacity=str(10 + 5 * n))
    for n in range(SLOTS):
        day, hour = ("2026-03-14", 9 + n) if n < 5 else ("2026-03-15", 4 + n)
        _act(fac, slug, "slot.add", day=day, start=f"{hour:02d}:00", end=f"{hour:02d}:50")
    _act(fac, slug, "event.phase", phase="marketplace")
    people = []
    for n in range(PEOPLE):
        person = _other(client)
        token = _csrf(person, f"/e/{slug}")
        assert person.post(f"/e/{slug}/join", data={"csrf": token, "name": f"Person {n}"}).status_code == 303
        people.append(person)
    for n in range(SPACES * SLOTS):
        who = people[n % PEOPLE]
        _act(who, slug, "topic.propose", "participant", title=f"Topic {n}: libraries and games",
             description="What we learnt, what we would do again, and what we would rather not." * 2)  # fmt: skip
    state = _state(fac, slug)
    cells = [(slot["id"], space["id"]) for slot in state["slots"] for space in state["spaces"]]
    for topic, (slot, space) in zip(state["topics"], cells, strict=False):
        _act(fac, slug, "topic.place", topic=topic["id"], slot=slot, space=space)
    rng = random.Random(7)
    for person in people:
        for topic in rng.sample(state["topics"], 3):
            _act(person, slug, "topic.interest", "participant", topic=topic["id"], on="1")
    return slug, fac, people[0]


def gzip_level(app: Any) -> int:
    """The level the app's GZipMiddleware compresses at (Starlette's default is 9)."""
    for middleware in app.user_middleware:
        if middleware.cls is GZipMiddleware:
            return int(middleware.kwargs.get("compresslevel", 9))
    return 9


def ask(client: TestClient, path: str, have: dict[str, str]) -> tuple[dict[str, Any], int, float]:
    start = time.perf_counter()
    response = client.get(path, headers={"x-regions": header(have)})
    elapsed = (time.perf_counter() - start) * 1000
    return response.json(), len(gzip.compress(response.content, gzip_level(client.app))), elapsed


def bare_app(size: int, level: int) -> Starlette:
    """A bare Starlette + Jinja2 page of `size` bytes: rows of text through a template loop,
    the same gzip middleware and level; no database, no cookies, no board. And an empty answer
    at /empty, for what the test client's requests cost by themselves."""
    env = Environment(autoescape=True)
    template = env.from_string(
        "<!doctype html><html><body><main>"
        '{% for row in rows %}<p class="r">{{ row }}</p>\n{% endfor %}'
        "</main></body></html>"
    )
    rows = [f"Row {n}: what we learnt, and what we would do again &c." for n in range(100)]
    rows *= max(1, round(size / len(template.render(rows=rows))))  # as many bytes as the page, near enough

    async def page(request: Request) -> Response:
        return HTMLResponse(template.render(rows=rows))

    async def empty(request: Request) -> Response:
        return Response("ok")

    gzip_ = Middleware(GZipMiddleware, minimum_size=500, compresslevel=level)
    return Starlette(routes=[Route("/", page), Route("/empty", empty)], middleware=[gzip_])


def cpu_ms(do: Callable[[], Any], count: int) -> tuple[float, float]:
    """CPU per call in ms: the server's (every thread but this one, the client's: the app's event
    loop in the test client's portal thread, the database's threads) and the whole process's."""
    do()  # warm: templates compiled, caches filled
    process, client = time.process_time(), time.thread_time()
    for _ in range(count):
        do()
    process, client = time.process_time() - process, time.thread_time() - client
    return (process - client) * 1000 / count, process * 1000 / count


def storm(client: TestClient, slug: str, phone: TestClient, count: int = 60) -> dict[str, Any]:
    """The join storm's per-phone costs (#20), with a bare page of the same size as the floor."""
    path = f"/e/{slug}"
    page = phone.get(path)
    assert page.status_code == 200 and "data-region" in page.text
    wire = {"joined": page.num_bytes_downloaded, "not joined": _other(client).get(path).num_bytes_downloaded}
    level = gzip_level(client.app)
    joined = cpu_ms(lambda: phone.get(path), count)
    with TestClient(bare_app(len(page.content), level)) as bare:
        size = len(bare.get("/").content)
        floor = cpu_ms(lambda: bare.get("/"), count)
        empty = cpu_ms(lambda: bare.get("/empty"), count)  # what the test client's requests cost alone
    names = iter(range(10**6))

    def join() -> None:
        fresh = _other(client)
        token = _csrf(fresh, path)
        posted = fresh.post(f"{path}/join", data={"csrf": token, "name": f"Storm {next(names)}"})
        assert posted.status_code == 303, posted.status_code
        assert fresh.get(path).status_code == 200

    per_join = cpu_ms(join, max(10, count // 2))
    return {
        "joined_get_ms": joined[0],
        "bare_get_ms": floor[0],
        "ratio": joined[0] / floor[0],
        "join_ms": per_join[0],
        "empty_ms": empty[0],
        "process": {"joined_get_ms": joined[1], "bare_get_ms": floor[1], "join_ms": per_join[1]},
        "page_bytes": len(page.content),
        "wire_bytes": wire,
        "bare_bytes": size,
        "gzip_level": level,
    }


def header(have: dict[str, str]) -> str:
    return " ".join(have.values())


def measure(iterations: int = 40) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            db=str(Path(tmp) / "bench.db"),
            demo=False,
            secret_key="bench-secret",
            port=8000,
            allowed_hosts="bench",
            limit_joins_address="100000/600",
            limit_actions_address="1000000/10",
            limit_actions_event="1000000/10",
            limit_proposals_person="1000000/10",
            limit_proposals_address="1000000/10",
        )
        with TestClient(create_app(settings), base_url=ORIGIN, follow_redirects=False) as client:
            slug, fac, phone = build(client)
            state = _state(fac, slug)
            topic = state["topics"][0]["id"]
            visitor = _other(client)
            visitor.get(f"/e/{slug}")  # has not joined: shares one render with every such visitor
            pages = {
                "participant": (phone, f"/e/{slug}"),
                "participant, not joined": (visitor, f"/e/{slug}"),
                "projector": (client, f"/e/{slug}/projector"),
                "session": (phone, f"/e/{slug}/sessions/{topic}"),
                "news": (phone, f"/e/{slug}/news"),
                "facilitator": (fac, f"/e/{slug}/facilitate?fragment=board"),
            }
            result: dict[str, Any] = {"sessions": len(state["topics"]), "people": PEOPLE, "pages": {}}
            result["storm"] = storm(client, slug, phone, 60)
            for name, (who, path) in pages.items():
                first, first_bytes, _ = ask(who, path, {})
                header_bytes = len(header(first["hashes"]))
                times = [ask(who, path, first["hashes"])[2] for _ in range(iterations)]
                times.sort()
                result["pages"][name] = {
                    "median_ms": statistics.median(times),
                    "p90_ms": times[int(len(times) * 0.9) - 1],
                    "first_bytes": first_bytes,
                    "regions": len(first["hashes"]),
                    "header_bytes": header_bytes,
                }
            other = _other(client)
            token = _csrf(other, f"/e/{slug}")
            assert other.post(f"/e/{slug}/join", data={"csrf": token, "name": "Someone"}).status_code == 303
            changes = {
                "an interest mark by someone else": lambda: _act(
                    other, slug, "topic.interest", "participant", topic=state["topics"][5]["id"], on="1"
                ),
                "a topic proposed": lambda: _act(other, slug, "topic.propose", "participant", title="One more topic"),
                "a topic moved to another cell": lambda: _act(
                    fac, slug, "topic.unplace", topic=state["topics"][7]["id"]
                ),
                "an announcement": lambda: _act(fac, slug, "announce", text="Coffee in the hall", minutes="15"),
            }
            sizes: dict[str, dict[str, int]] = {}
            for change, do in changes.items():
                before = {name: ask(who, path, {})[0]["hashes"] for name, (who, path) in pages.items()}
                do()
                sizes[change] = {name: ask(who, path, before[name])[1] for name, (who, path) in pages.items()}
            result["change_bytes"] = sizes
            return result


def rows(
    found: dict[str, Any] | None, num: Callable[[float], str], verdict: Callable[[bool], str]
) -> list[tuple[str, str, str, str, str, str]]:
    """The rows `make bench` adds to docs/performance.md (bench/report.py hands in its formatters)."""
    if not found:
        return []
    size = f"{found['sessions']} sessions / {found['people']} participants"
    rows = []
    for change, per_page in found["change_bytes"].items():
        phone = per_page["participant"]
        rows.append(
            (
                f"Live regions, {size}: answer after {change}, gzip B (phone's participant page; others)",
                f"≤ {REGION_TARGET:,} B (phone)",
                f"{phone:,}; " + ", ".join(f"{k} {v:,}" for k, v in per_page.items() if k != "participant"),
                "—",
                "—",
                verdict(phone <= REGION_TARGET),
            )
        )
    storm = found.get("storm")
    if storm:
        rows.append(
            (
                f"Join storm, {size}: server CPU per GET of a joined phone's participant page, ms"
                f" ({storm['page_bytes']:,} B, gzip {storm['gzip_level']}; ratio to a bare Starlette + Jinja2 page"
                f" of {storm['bare_bytes']:,} B, {num(storm['bare_get_ms'])} ms)",
                f"≤ {GET_RATIO_TARGET}× bare",
                f"{num(storm['joined_get_ms'])} ({num(storm['ratio'])}×)",
                "—",
                "—",
                verdict(storm["ratio"] <= GET_RATIO_TARGET),
            )
        )
        rows.append(
            (
                f"Join storm, {size}: server CPU per join (GET page, POST join, GET page), ms",
                f"≤ {JOIN_TARGET_MS} ms",
                num(storm["join_ms"]),
                "—",
                "—",
                verdict(storm["join_ms"] <= JOIN_TARGET_MS),
            )
        )
    for name, page in found["pages"].items():
        rows.append(
            (
                f"Live regions, {size}: {name} page, server ms per ask, median / p90"
                f" (first answer {page['first_bytes']:,} B gzip, {page['regions']} regions,"
                f" X-Regions header {page['header_bytes']:,} B)",
                "—",
                f"{num(page['median_ms'])} / {num(page['p90_ms'])}",
                "—",
                "—",
                "—",
            )
        )
    return rows


def main() -> None:
    result = measure()
    print(f"{result['sessions']} sessions, {result['people']} participants")
    print("page: answer median / p90 ms, first answer (all regions) gzip bytes, regions, X-Regions header bytes")
    for name, row in result["pages"].items():
        print(
            f"  {name}: {row['median_ms']:.1f} / {row['p90_ms']:.1f} ms, {row['first_bytes']} B, {row['regions']},"
            f" {row['header_bytes']} B"
        )
    storm = result["storm"]
    print(
        f"joined phone's page GET: {storm['joined_get_ms']:.2f} ms server CPU ({storm['page_bytes']} B, gzip"
        f" {storm['gzip_level']}); bare Starlette + Jinja2 page ({storm['bare_bytes']} B):"
        f" {storm['bare_get_ms']:.2f} ms;"
        f" ratio {storm['ratio']:.2f}x (target <= {GET_RATIO_TARGET}x)"
    )
    print(f"CPU per join (GET page, POST join, GET page): {storm['join_ms']:.2f} ms (target <= {JOIN_TARGET_MS} ms)")
    print(
        "  the participant page on the wire (gzip): " + ", ".join(f"{k} {v} B" for k, v in storm["wire_bytes"].items())
    )
    print(f"  an empty Starlette answer through the same test client: {storm['empty_ms']:.2f} ms server CPU")
    whole = storm["process"]
    print(
        f"  the same with the client's CPU: joined GET {whole['joined_get_ms']:.2f} ms, bare GET"
        f" {whole['bare_get_ms']:.2f} ms, join {whole['join_ms']:.2f} ms"
    )
    print("bytes of the answer (gzip) after one change, per page:")
    for change, row in result["change_bytes"].items():
        print(f"  {change}: " + ", ".join(f"{k} {v} B" for k, v in row.items()))


if __name__ == "__main__":
    main()

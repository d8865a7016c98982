"""The bare baseline: what fan-out costs with nothing of openspace in the way.

A minimal Starlette app on the same uvicorn, with the same websocket settings as `openspace
serve` (websockets-sansio, no per-message deflate, the same max size, no proxy headers). Every
connection goes into one set. A client message `{"type":"broadcast","seq":N,"size":S}` makes the
app build one frame of S bytes that starts like openspace's change frames (so the load
generator parses both alike) and send it with a sequential `send_text` loop to every connection,
the sender included, exactly as openspace's hub loops over an event's clients. Every other
message (the clients' acks) is read and ignored. No database, no rules, no projection, no
acknowledgement bookkeeping: the difference to openspace is what openspace adds.

For the storms (bench/storms.py) it does the same few things as plainly: it keeps every frame it
broadcast, so a socket connecting with `?since=N` is first sent the frames after N, one
`send_text` each, before it joins the set; it answers `{"type":"ping"}` with a pong; and it serves
a phone's join: `GET /e/<bytes>` renders a Jinja2 page of about that many bytes (gzipped, as
openspace's) and sets a cookie, `POST /e/<bytes>/join` reads the form, sets another and redirects.

With `--cached` it is the floor of a join: the page is rendered and compressed once per change
and then sent as it is, so a join costs only what uvicorn, Starlette, the kernel and the socket
cost for the same requests, the same bytes and the same fan-out; nothing an app could do per
page comes cheaper than sending bytes it already has.

Run: `python -m bench.baseline --port 8001` (the benchmark starts it for you).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import random
import secrets

import jinja2
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from openspace.settings import Settings

BROADCAST = '{"type":"broadcast"'
PING = '{"type":"ping"}'
KEEP = 5000  # frames kept for sockets that come back with ?since=N
PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1><ul>{% for row in rows %}
<li class="topic" id="t-{{ row.id }}"><h3>{{ row.title }}</h3><p>{{ row.text }}</p></li>{% endfor %}
</ul></main><script type="application/json" id="os-data">{{ data|safe }}</script></body></html>"""
)
ROW_BYTES = 200  # about what one row of the page above comes to
WORDS = (
    "library social media workshop open space session topic room time slot question answer idea "
    "visitors staff blog post picture story reader event week plan share learn try together"
).split()


def frame(seq: int, size: int) -> str:
    head = f'{{"type":"change","seq":{seq},"kind":"bench","patch":{{"pad":"'
    return head + "x" * max(0, size - len(head) - 3) + '"}}'


@functools.cache
def row_text(i: int) -> str:
    """Words, not one letter repeated, so that the page compresses about as a real page does
    (chosen once: the bare app's work per page is its render)."""
    chosen = random.Random(i)
    text = ""
    while len(text) < ROW_BYTES - 90:
        text += chosen.choice(WORDS) + " "
    return text.strip()


def create_app(cached: bool = False) -> Starlette:
    connections: set[WebSocket] = set()
    pages: dict[tuple[int, int], bytes] = {}  # (size, seq) -> the page gzipped, with --cached
    answers: dict[int, bytes] = {}  # seq -> a live page's answer (its regions), made once per change
    sent: dict[int, str] = {}  # seq -> the frame broadcast, the last KEEP of them
    head = [0]

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        since = ws.query_params.get("since", "")
        at = int(since) if since.isdigit() else head[0]
        while at < head[0]:  # no await between the last check and joining the set: nothing slips
            at += 1
            if at in sent:
                await ws.send_text(sent[at])
        connections.add(ws)
        try:
            while True:
                text = await ws.receive_text()
                if text == PING:
                    await ws.send_text('{"type":"pong"}')
                elif text.startswith(BROADCAST):
                    command = orjson.loads(text)
                    payload = frame(command["seq"], command["size"])
                    sent[command["seq"]] = payload  # kept and listed with no await between: nothing slips
                    head[0] = max(head[0], command["seq"])
                    sent.pop(command["seq"] - KEEP, None)
                    for client in list(connections):
                        try:
                            await client.send_text(payload)
                        except Exception:  # gone meanwhile: its own receive loop removes it
                            continue
        except WebSocketDisconnect:
            pass
        finally:
            connections.discard(ws)

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"baseline: {len(connections)} connections")

    async def page(request: Request) -> Response:
        """A page of about `size` bytes, rendered by Jinja2 from rows, as a participant page is."""
        size = int(request.path_params["size"])
        if "x-regions" in request.headers:  # a live page asking again (bench/hall.py): one answer per change
            if head[0] not in answers:
                answers.clear()
                region = f'<li data-region="t-{head[0]}">{row_text(head[0])}</li>'
                answer = {"seq": head[0], "hashes": {"t": str(head[0])}, "regions": {"t": region}}
                answers[head[0]] = orjson.dumps(answer)
            return Response(answers[head[0]], media_type="application/json")
        key = (size, head[0])
        if key not in pages:
            rows = [
                {"id": f"{i:08x}", "title": f"Session {i + 1}", "text": row_text(i)}
                for i in range(max(1, size // ROW_BYTES))
            ]
            data = orjson.dumps({"seq": head[0], "epoch": "bare", "slug": str(size)}).decode()
            html = PAGE.render(title="Baseline", rows=rows, data=data)
            if not cached:  # rendered per request, compressed by the middleware, as openspace's pages were
                return with_cookie(request, HTMLResponse(html))
            pages.clear()
            pages[key] = gzip.compress(html.encode(), 6, mtime=0)  # openspace's level (packing.LEVEL)
        return with_cookie(request, Response(pages[key], media_type="text/html", headers={"content-encoding": "gzip"}))

    def with_cookie(request: Request, response: Response) -> Response:
        if "os_csrf" not in request.cookies:
            response.set_cookie("os_csrf", secrets.token_urlsafe(16), httponly=True, samesite="lax")
        return response

    async def join(request: Request) -> Response:
        async with request.form() as form:
            form.get("name")  # read, as a join is; the bare app keeps no one
        response = RedirectResponse(f"/e/{request.path_params['size']}", status_code=303)
        response.set_cookie("os_p", secrets.token_urlsafe(16), httponly=True, samesite="lax")
        return response

    routes = [
        Route("/", home),
        Route("/e/{size:int}", page),
        Route("/e/{size:int}/join", join, methods=["POST"]),
        WebSocketRoute("/ws", endpoint),
    ]
    # compressed at openspace's level (Starlette's default, 9, costs several times as much on a real page)
    return Starlette(routes=routes, middleware=[Middleware(GZipMiddleware, minimum_size=500, compresslevel=6)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--cached", action="store_true", help="the floor: each page made once per change")
    args = parser.parse_args()
    serve(create_app(args.cached), args.port, args.log_level)


def serve(app: Starlette | str, port: int, log_level: str, workers: int = 1) -> None:
    """The same call as openspace.cli.serve, host and app aside (bench/pgbare.py's too). Several
    workers need the app as an import path to a factory, which each worker calls."""
    uvicorn.run(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_max_size=Settings().ws_max_size,
        ws_per_message_deflate=False,
        log_level=log_level,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()

"""The bare baseline: what fan-out costs with nothing of openspace in the way.

A minimal Starlette app on the same uvicorn, with the same websocket settings as `openspace
serve` (websockets-sansio, no per-message deflate, the same max size, no proxy headers). Every
connection goes into one set. A client message `{"type":"broadcast","seq":N,"size":S}` makes the
app build one frame of S bytes that starts like openspace's change frames (so the load
generator parses both alike) and send it with a sequential `send_text` loop to every connection,
the sender included, exactly as openspace's hub loops over an event's clients. Every other
message (the clients' acks) is read and ignored. No database, no rules, no projection, no
acknowledgement bookkeeping: the difference to openspace is what openspace adds.

Run: `python -m bench.baseline --port 8001` (the benchmark starts it for you).
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from openspace.settings import Settings

BROADCAST = '{"type":"broadcast"'


def frame(seq: int, size: int) -> str:
    head = f'{{"type":"change","seq":{seq},"kind":"bench","patch":{{"pad":"'
    return head + "x" * max(0, size - len(head) - 3) + '"}}'


def create_app() -> Starlette:
    connections: set[WebSocket] = set()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        connections.add(ws)
        try:
            while True:
                text = await ws.receive_text()
                if text.startswith(BROADCAST):
                    command = orjson.loads(text)
                    payload = frame(command["seq"], command["size"])
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

    return Starlette(routes=[Route("/", home), WebSocketRoute("/ws", endpoint)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    settings = Settings()
    uvicorn.run(  # the same call as openspace.cli.serve, host and app aside
        create_app(),
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_size,
        ws_per_message_deflate=False,
        log_level=args.log_level,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()

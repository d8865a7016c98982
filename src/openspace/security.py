"""Secrets, signed cookies, CSRF and Origin checks, and the headers every response carries.

Cookies hold only opaque random tokens, signed so a tampered one is rejected before any lookup;
the database stores their SHA-256, never the token, so a stolen database opens no session. What a
person may do is always decided from the database, never from the cookie's content.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PARTICIPANT_COOKIE = "os_p"
FACILITATOR_COOKIE = "os_f"
CSRF_COOKIE = "os_csrf"
LANG_COOKIE = "os_lang"
READY_COOKIE = "os_ready"  # the new facilitator link, for the page that shows it after a redirect

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def browser_key(csrf_cookie: str | None) -> str:
    """Names one browser for idempotency records without storing its CSRF token.

    A cookie too short to be one of ours (`new_secret` makes 43 characters) names nobody, just
    as the pages replace it instead of trusting it.
    """
    if not csrf_cookie or len(csrf_cookie) < 32:
        return ""
    return hash_token("browser:" + csrf_cookie)[:32]


def same_hash(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


class CookieSigner:
    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt="openspace-cookie")
        self._secret = secret_key
        self._key = hashlib.sha256(b"openspace-derive|" + secret_key.encode()).digest()

    def derive(self, purpose: str) -> str:
        """A secret for one purpose (a participant's photo tags), from the server's key alone."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).hexdigest()

    def seal(self, value: Any, purpose: str) -> str:
        """A value signed and dated for one purpose, URL-safe (a withdrawal's undo: web/routes.py)."""
        return URLSafeTimedSerializer(self._secret, salt=f"openspace-{purpose}").dumps(value)

    def unseal(self, token: str, purpose: str, max_age: int) -> Any:
        """What `seal` sealed for this purpose less than `max_age` seconds ago, else None."""
        try:
            return URLSafeTimedSerializer(self._secret, salt=f"openspace-{purpose}").loads(token, max_age=max_age)
        except BadSignature:  # forged, for another purpose, or expired (SignatureExpired)
            return None

    def sign(self, value: str) -> str:
        return self._signer.sign(value).decode()

    def unsign(self, signed: str | None) -> str | None:
        if not signed:
            return None
        try:
            return self._signer.unsign(signed).decode()
        except BadSignature:
            return None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(headers: Headers, scheme: str, public_url: str | None) -> set[str]:
    """The server's own origins: the Host the request came to, and the configured public URL."""
    host = headers.get("host", "")
    web_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    origins = {f"{web_scheme}://{host}".lower()}
    if public_url:
        origins.add(origin_of(public_url))
    return origins


def origin_ok(headers: Headers, scheme: str, public_url: str | None) -> bool:
    """For websocket upgrades: the Origin must be exactly one of ours.

    Browsers always send Origin on upgrades, so a missing one, the literal "null" and look-alike
    hosts are all refused.
    """
    origin = headers.get("origin")
    return origin is not None and origin.lower() in allowed_origins(headers, scheme, public_url)


def form_origin_ok(headers: Headers, scheme: str, public_url: str | None) -> bool:
    """For form posts, a cross-site signal refuses; the CSRF token is the check that must pass.

    Our pages send `Referrer-Policy: no-referrer`, under which browsers post forms with
    `Origin: null`, so "null" cannot be refused here. A real foreign Origin, or
    `Sec-Fetch-Site: cross-site` / `same-site`, is refused.
    """
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin.lower() in allowed_origins(headers, scheme, public_url)


def csrf_ok(cookie_value: str | None, form_value: object) -> bool:
    if not cookie_value or not isinstance(form_value, str):
        return False
    return hmac.compare_digest(cookie_value, form_value)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, errors and static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

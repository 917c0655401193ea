"""Two small ASGI middlewares of the registry service: request-size limits and security headers.

Request size: a body larger than the limit of its path is refused with HTTP 413 before any of it
is parsed - at once when ``Content-Length`` says so, else as soon as the streamed bytes pass the
limit. :data:`BODY_LIMIT_BYTES` holds for every request (a patient's JSON or a form is a few
kilobytes); paths that take uploads (CSV import, a plan and its delivery log) get
:data:`UPLOAD_LIMIT_BYTES`. Pure ASGI (no ``BaseHTTPMiddleware``), so nothing is buffered here.

Headers on every response, errors included (:func:`security_headers`): a Content-Security-Policy
that allows only this origin's own resources (inline styles are allowed for the server-rendered
pages and the outcome report; no scripts but our own, no plug-ins, no framing by other sites),
``Cache-Control: no-store`` (clinical pages, exports and API answers must not stay in browser or
proxy caches; OWASP Session Management Cheat Sheet, "Web Content Caching"), ``nosniff``,
``SAMEORIGIN`` framing and no referrer. The interactive API documentation loads Swagger UI from
its CDN and gets a policy that allows that.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Largest request body in general (bytes). Design choice: 64 x the largest form or JSON record
#: the registry takes (a patient with 4000 characters of notes is < 16 KiB in UTF-8).
BODY_LIMIT_BYTES = 1024 * 1024
#: Largest upload (CSV import, plan + delivery log), bytes. Design choice: a 50,000-row CSV of
#: patients is ~ 5 MiB and a delivery log of 66 pairs x 100 pulses at 3 placements ~ 4 MiB.
UPLOAD_LIMIT_BYTES = 16 * 1024 * 1024
#: Path prefixes and suffixes that take uploads.
UPLOAD_PREFIXES = ("/api/import/",)
UPLOAD_SUFFIXES = ("/procedures/upload",)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "form-action 'self'"
)
#: Swagger UI (FastAPI's /docs page) comes from the jsDelivr CDN with an inline start script.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to ``path`` (module docstring)."""
    csp = DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else CONTENT_SECURITY_POLICY
    return [
        (b"content-security-policy", csp.encode()),
        (b"cache-control", b"no-store"),
        (b"pragma", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"referrer-policy", b"no-referrer"),
    ]


class SecurityHeaders:
    """Adds :func:`security_headers` to every HTTP response (replacing any of the same name)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def body_limit(path: str) -> int:
    """The largest body accepted for ``path`` (bytes)."""
    if path.startswith(UPLOAD_PREFIXES) or path.endswith(UPLOAD_SUFFIXES):
        return UPLOAD_LIMIT_BYTES
    return BODY_LIMIT_BYTES


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"request body too large: at most {limit} bytes are accepted here"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuses request bodies over :func:`body_limit` with 413 (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await _refuse(send, limit)
                    return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            # past the limit: answer 413 here and tell the app the client left, so it stops
            # reading; whatever it answers to that is dropped (the 413 has been sent)
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, tracking_send)

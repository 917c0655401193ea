"""FastAPI dependencies: the per-request database session and the authenticated actor.

The session comes from the app's own :class:`~irelab.registry.database.Registry` (set up in the
app's lifespan), so every app - and every test - has its own database; there is no global engine.
The API authenticates with ``Authorization: Bearer <token>`` only; the web pages with the same kind
of token in an HttpOnly, SameSite=Lax cookie, plus a CSRF token on every form (:mod:`.csrf`).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.audit import ACTOR_KEY
from irelab.registry.models import User
from irelab.registry.security import Actor, AuthError, token_subject

SESSION_COOKIE = "irelab_session"


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request; rolled back unless the route commits."""
    with request.app.state.registry.sessions() as session:
        try:
            yield session
        except Exception:
            session.rollback()
            raise


def actor_for(session: Session, username: str) -> Actor:
    """The :class:`Actor` of an active user; :class:`AuthError` if unknown or retired."""
    user = session.scalars(
        select(User).where(User.username == username, User.retired_at.is_(None))
    ).first()
    if user is None:
        raise AuthError("invalid token")
    session.info[ACTOR_KEY] = user.username
    return Actor(user.username, user.role, user.site_id)


def api_actor(request: Request, session: Session = Depends(get_session)) -> Actor:
    """The actor of a bearer-token API request (401 if missing, forged or expired).

    Only the ``Authorization`` header counts, never the session cookie: a browser does not attach
    that header to a cross-site request by itself, so the API needs no CSRF token.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("not authenticated: send 'Authorization: Bearer <token>'")
    return actor_for(session, token_subject(token, request.app.state.secret))


def cookie_actor(request: Request, session: Session) -> Actor | None:
    """The actor of a web-page request from its session cookie, or None if not logged in."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return actor_for(session, token_subject(token, request.app.state.secret))
    except AuthError:
        return None

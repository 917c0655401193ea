"""FastAPI dependencies: the per-request database session and the authenticated actor.

The session comes from the app's own :class:`~irelab.registry.database.Registry` (set up in the
app's lifespan), so every app - and every test - has its own database; there is no global engine.
Routes that only read take :func:`get_session`; routes that write take :func:`write_session`
(its transaction takes SQLite's write lock when it starts, so concurrent writers queue). Every
route that touches the database is a plain ``def``: FastAPI runs it in its thread pool, so a
query never blocks the event loop that serves the other requests.

The API authenticates with ``Authorization: Bearer <token>`` only; the web pages with the same kind
of token in an HttpOnly, SameSite=Lax cookie, plus a CSRF token on every form (:mod:`.csrf`).
A token whose ``jti`` was revoked by a logout is refused like a forged one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from irelab.registry.audit import ACTOR_KEY
from irelab.registry.models import RevokedToken, User
from irelab.registry.security import Actor, AuthError, TokenClaims, token_claims

SESSION_COOKIE = "irelab_session"


def _session(factory: sessionmaker) -> Iterator[Session]:
    with factory() as session:
        try:
            yield session
        except Exception:
            session.rollback()
            raise


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one reading request; rolled back unless the route commits."""
    yield from _session(request.app.state.registry.sessions)


def write_session(request: Request) -> Iterator[Session]:
    """A database session for one writing request (BEGIN IMMEDIATE on SQLite)."""
    yield from _session(request.app.state.registry.write_sessions)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def is_revoked(session: Session, jti: str) -> bool:
    """Whether the token ``jti`` was ended by a logout."""
    return session.get(RevokedToken, jti) is not None


def revoke(session: Session, claims: TokenClaims, now: dt.datetime) -> None:
    """End the token of ``claims`` (logout); drop deny-list rows of tokens expired by ``now``."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if not is_revoked(session, claims.jti):
        session.add(
            RevokedToken(
                jti=claims.jti,
                username=claims.username,
                revoked_at=now,
                expires_at=claims.expires_at,
            )
        )


def actor_for(session: Session, claims: TokenClaims | str) -> Actor:
    """The :class:`Actor` of an active, approved user; :class:`AuthError` if unknown, retired,
    pending or (for claims) revoked."""
    username = claims if isinstance(claims, str) else claims.username
    if not isinstance(claims, str) and is_revoked(session, claims.jti):
        raise AuthError("this session has ended (logged out): log in again")
    user = session.scalars(
        select(User).where(User.username == username, User.retired_at.is_(None))
    ).first()
    if user is None or user.approved_at is None:
        raise AuthError("invalid token")
    session.info[ACTOR_KEY] = user.username
    return Actor(user.username, user.role, user.site_id, user.id)


def bearer_claims(request: Request) -> TokenClaims:
    """The claims of the request's bearer token (401 if missing, forged or expired)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("not authenticated: send 'Authorization: Bearer <token>'")
    return token_claims(token, request.app.state.secret)


def api_actor(request: Request, session: Session = Depends(get_session)) -> Actor:
    """The actor of a bearer-token API request (401 if missing, forged, expired or revoked).

    Only the ``Authorization`` header counts, never the session cookie: a browser does not attach
    that header to a cross-site request by itself, so the API needs no CSRF token.
    """
    return actor_for(session, bearer_claims(request))


def api_writer(request: Request, session: Session = Depends(write_session)) -> Actor:
    """:func:`api_actor` for a writing route (checked inside the writing session)."""
    return actor_for(session, bearer_claims(request))


def cookie_claims(request: Request) -> TokenClaims | None:
    """The claims of the session cookie, or None if there is none or it is not valid."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return token_claims(token, request.app.state.secret)
    except AuthError:
        return None


def cookie_actor(request: Request, session: Session) -> Actor | None:
    """The actor of a web-page request from its session cookie, or None if not logged in."""
    claims = cookie_claims(request)
    if claims is None:
        return None
    try:
        return actor_for(session, claims)
    except AuthError:
        return None

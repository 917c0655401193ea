"""Log in (password -> signed token), log out (the token is revoked) and who-am-I.

Failed logins go to the audit trail and are throttled per username (:mod:`irelab.registry.login`:
429 with ``Retry-After`` while locked). This form takes no CSRF token: it sets no cookie, and the
token it returns in the body cannot be read by another site.

A login reads in a plain (deferred) transaction: the bcrypt check must not hold SQLite's write
lock, or every write of the site would wait for each login's hashing. Only a failure's audit rows
are written, in a transaction of their own (:func:`irelab.registry.login.authenticate`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session

from irelab.registry.deps import (
    api_actor,
    api_writer,
    bearer_claims,
    get_session,
    revoke,
    write_session,
)
from irelab.registry.login import authenticate
from irelab.registry.models import User
from irelab.registry.schemas import Token
from irelab.registry.security import Actor, issue_token

router = APIRouter(prefix="/api/auth", tags=["auth"])


def check_login(request: Request, session: Session, username: str, password: str) -> User:
    """:func:`irelab.registry.login.authenticate` on the app's clock and the client's address."""
    client = request.client.host if request.client else None
    return authenticate(
        session,
        username,
        password,
        now=request.app.state.clock(),
        client=client,
        rounds=request.app.state.bcrypt_rounds,
    )


@router.post("/token", response_model=Token)
def login(
    request: Request,
    username: str = Form(..., max_length=256),
    password: str = Form(..., max_length=1024),
    session: Session = Depends(get_session),
) -> Token:
    """OAuth2 password form -> bearer token (HS256, expires after 8 h); 401, 403 or 429."""
    user = check_login(request, session, username, password)
    return Token(access_token=issue_token(user.username, request.app.state.secret))


@router.post("/logout", status_code=204)
def logout(
    request: Request,
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> None:
    """End this bearer token now (it is refused by every worker from then on)."""
    revoke(session, bearer_claims(request), request.app.state.clock())
    session.commit()


@router.get("/me")
def me(actor: Actor = Depends(api_actor)) -> dict[str, object]:
    """The authenticated user's name, role and site id."""
    return {"username": actor.username, "role": actor.role, "site_id": actor.site_id}

"""Log in (password -> signed token) and who-am-I. Failed logins go to the audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.audit import record_event
from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import User
from irelab.registry.schemas import Token
from irelab.registry.security import Actor, AuthError, check_password, issue_token

router = APIRouter(prefix="/api/auth", tags=["auth"])


def authenticate(session: Session, username: str, password: str) -> User:
    """The active user with these credentials; otherwise audit the failure and raise 401.

    The failure is committed on its own, so it is kept even though the request fails; the
    message does not say whether the username exists.
    """
    user = session.scalars(
        select(User).where(User.username == username, User.retired_at.is_(None))
    ).first()
    if user is None or not check_password(password, user.password_hash):
        session.rollback()
        record_event(session, "login-failure", username[:64], table_name="users")
        session.commit()
        raise AuthError("wrong username or password")
    return user


@router.post("/token", response_model=Token)
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    session: Session = Depends(get_session),
) -> Token:
    """OAuth2 password form -> bearer token (HS256, expires after 8 h)."""
    user = authenticate(session, username, password)
    return Token(access_token=issue_token(user.username, request.app.state.secret))


@router.get("/me")
def me(actor: Actor = Depends(api_actor)) -> dict[str, object]:
    """The authenticated user's name, role and site id."""
    return {"username": actor.username, "role": actor.role, "site_id": actor.site_id}

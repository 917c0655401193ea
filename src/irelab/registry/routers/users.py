"""Sites and user accounts (admin only; everyone may list sites).

Accounts created here are pending until a second admin approves them
(:mod:`irelab.registry.accounts`). Lists are paged (``after``/``limit``; :mod:`._crud`).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.accounts import add_site, add_user, approve_user
from irelab.registry.deps import api_actor, api_writer, get_session, write_session
from irelab.registry.models import Site, User
from irelab.registry.routers._crud import Limit, RecordPath, RecordQuery, set_next_link
from irelab.registry.schemas import (
    ApproveRequest,
    RetireRequest,
    SiteCreate,
    SiteRead,
    UserCreate,
    UserRead,
)
from irelab.registry.security import Actor
from irelab.registry.service import DEFAULT_PAGE_SIZE, Conflict, Forbidden, NotFound, page_of

router = APIRouter(prefix="/api", tags=["users"])


def require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("only an admin manages sites and users")


@router.get("/sites", response_model=list[SiteRead])
def list_sites(
    request: Request,
    response: Response,
    after: RecordQuery = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> list[Site]:
    page = page_of(session, select(Site).where(Site.retired_at.is_(None)), Site.id, after, limit)
    set_next_link(request, response, page.next_after)
    return page.rows


@router.post("/sites", response_model=SiteRead, status_code=201)
def create_site(
    payload: SiteCreate,
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> Site:
    require_admin(actor)
    site = add_site(session, payload.code, payload.name)
    session.commit()
    return site


@router.get("/users", response_model=list[UserRead])
def list_users(
    request: Request,
    response: Response,
    after: RecordQuery = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> list[User]:
    require_admin(actor)
    page = page_of(session, select(User), User.id, after, limit)
    set_next_link(request, response, page.next_after)
    return page.rows


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(
    request: Request,
    payload: UserCreate,
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> User:
    """A new account, pending until a second admin approves it."""
    require_admin(actor)
    user = add_user(
        session,
        payload.username,
        payload.password,
        payload.role,
        payload.site,
        rounds=request.app.state.bcrypt_rounds,
        approved_by=None,
    )
    session.commit()
    return user


@router.post("/users/{user_id}/approve", response_model=UserRead)
def approve(
    user_id: RecordPath,
    payload: ApproveRequest,
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> User:
    """A second admin (not the account's creator) lets a pending account log in."""
    user = approve_user(session, actor, user_id, payload.version)
    session.commit()
    return user


@router.post("/users/{user_id}/retire", response_model=UserRead)
def retire_user(
    user_id: RecordPath,
    payload: RetireRequest,
    actor: Actor = Depends(api_writer),
    session: Session = Depends(write_session),
) -> User:
    """Retire an account: its tokens stop working at once; the row and its history stay."""
    require_admin(actor)
    user = session.get(User, user_id)
    if user is None or user.retired_at is not None:
        raise NotFound(f"no active user {user_id}")
    if user.username == actor.username:
        raise Conflict("admins cannot retire their own account")
    if user.version != payload.version:
        raise Conflict(f"version {payload.version} is stale: the user is at {user.version}")
    user.retired_at = dt.datetime.now(dt.UTC)
    user.retired_by = actor.username
    user.retire_reason = payload.reason
    session.commit()
    return user

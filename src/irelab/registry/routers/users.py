"""Sites and user accounts (admin only; everyone may list sites)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.accounts import add_site, add_user
from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import Site, User
from irelab.registry.schemas import RetireRequest, SiteCreate, SiteRead, UserCreate, UserRead
from irelab.registry.security import Actor
from irelab.registry.service import Conflict, Forbidden, NotFound

router = APIRouter(prefix="/api", tags=["users"])


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("only an admin manages sites and users")


@router.get("/sites", response_model=list[SiteRead])
def list_sites(
    actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> list[Site]:
    return list(session.scalars(select(Site).where(Site.retired_at.is_(None)).order_by(Site.id)))


@router.post("/sites", response_model=SiteRead, status_code=201)
def create_site(
    payload: SiteCreate, actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> Site:
    _require_admin(actor)
    site = add_site(session, payload.code, payload.name)
    session.commit()
    return site


@router.get("/users", response_model=list[UserRead])
def list_users(
    actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> list[User]:
    _require_admin(actor)
    return list(session.scalars(select(User).order_by(User.id)))


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(
    payload: UserCreate, actor: Actor = Depends(api_actor), session: Session = Depends(get_session)
) -> User:
    _require_admin(actor)
    user = add_user(session, payload.username, payload.password, payload.role, payload.site)
    session.commit()
    return user


@router.post("/users/{user_id}/retire", response_model=UserRead)
def retire_user(
    user_id: int,
    payload: RetireRequest,
    actor: Actor = Depends(api_actor),
    session: Session = Depends(get_session),
) -> User:
    """Retire an account: its tokens stop working at once; the row and its history stay."""
    _require_admin(actor)
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

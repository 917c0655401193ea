"""Sites and user accounts (admin only; everyone may list sites)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.accounts import add_site, add_user
from irelab.registry.deps import api_actor, get_session
from irelab.registry.models import Site, User
from irelab.registry.schemas import SiteCreate, SiteRead, UserCreate, UserRead
from irelab.registry.security import Actor
from irelab.registry.service import Forbidden

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

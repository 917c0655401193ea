"""Creating sites and user accounts (used by the admin API and ``irelab registry create-user``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.models import Site, User
from irelab.registry.security import BCRYPT_ROUNDS, hash_password
from irelab.registry.service import Conflict, Invalid

#: Roles that belong to one site.
SITE_ROLES = frozenset({"investigator"})


def add_site(session: Session, code: str, name: str) -> Site:
    """Add a site (409 if the code exists)."""
    if session.scalars(select(Site.id).where(Site.code == code)).first():
        raise Conflict(f"site {code!r} exists", "code")
    site = Site(code=code, name=name)
    session.add(site)
    session.flush()
    return site


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    site_code: str | None = None,
    *,
    rounds: int = BCRYPT_ROUNDS,
) -> User:
    """Add a user with a bcrypt-hashed password; investigators need a site."""
    if session.scalars(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} exists", "username")
    site_id = None
    if site_code is not None:
        site = session.scalars(select(Site).where(Site.code == site_code)).first()
        if site is None:
            raise Invalid(f"site: unknown site code {site_code!r}", "site")
        site_id = site.id
    if role in SITE_ROLES and site_id is None:
        raise Invalid("site: investigators need a site", "site")
    user = User(
        username=username,
        password_hash=hash_password(password, rounds),
        role=role,
        site_id=site_id,
    )
    session.add(user)
    session.flush()
    return user

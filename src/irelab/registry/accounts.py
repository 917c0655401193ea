"""Creating sites and user accounts, and the second admin's approval of an account.

Admins manage accounts but cannot read patient data. So that one admin cannot give themselves
clinical access by creating an account they control, every account created through the service
starts *pending* (it cannot log in) until a different admin, who did not create it, approves it;
both steps are in the audit trail (``users`` rows are tracked like clinical ones). Creating an
admin account is pending too, or one admin could create a second admin to approve their own
accounts. Accounts created with ``irelab registry create-user`` are approved at once: whoever can
run that command on the server can read the database file anyway (it bootstraps the first admin).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.models import Site, User
from irelab.registry.schemas import USERNAME_PATTERN
from irelab.registry.security import BCRYPT_ROUNDS, Actor, hash_password
from irelab.registry.service import Conflict, Forbidden, Invalid, NotFound

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
    approved_by: str | None = "cli-create-user",
) -> User:
    """Add a user with a bcrypt-hashed password; investigators need a site.

    ``approved_by`` None leaves the account pending until :func:`approve_user`.
    """
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise Invalid(
            "username: letters, digits and _ . @ - only, starting with a letter or digit "
            "(at most 64 characters)",
            "username",
        )
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
        approved_at=dt.datetime.now(dt.UTC) if approved_by else None,
        approved_by=approved_by,
    )
    session.add(user)
    session.flush()
    return user


def approve_user(session: Session, actor: Actor, user_id: int, version: int) -> User:
    """A second admin approves pending account ``user_id`` (403 for its creator or itself)."""
    if actor.role != "admin":
        raise Forbidden("only an admin approves accounts")
    user = session.get(User, user_id)
    if user is None or user.retired_at is not None:
        raise NotFound(f"no active user {user_id}")
    if user.approved_at is not None:
        raise Conflict(f"user {user.username!r} is approved already")
    if actor.username in (user.created_by, user.username):
        raise Forbidden(
            "a second admin must approve this account: its creator cannot approve it"
        )
    if user.version != version:
        raise Conflict(f"version {version} is stale: the user is at {user.version}", "version")
    user.approved_at = dt.datetime.now(dt.UTC)
    user.approved_by = actor.username
    session.flush()
    return user

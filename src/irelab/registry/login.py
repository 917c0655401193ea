"""Checking a login: the password, and a per-username throttle against password guessing.

Rule: a username may have at most :data:`MAX_LOGIN_FAILURES` failed logins in any
:data:`LOGIN_FAILURE_WINDOW`. Once it has that many, every further attempt for that username is
refused with HTTP 429 *without checking the password* (so a right password is refused too, and
guessing gains nothing) until the oldest of those failures is older than the window; the answer
says when (``Retry-After``). The numbers follow the "lockout threshold / observation window /
lockout duration" scheme of the OWASP Authentication Cheat Sheet ("Account Lockout") and are far
below the 100 consecutive failures NIST SP 800-63B (section 5.2.2, "Rate Limiting (Throttling)")
allows as a ceiling.

- The throttle is keyed on the *username* typed, whether or not it exists (the answers for an
  unknown user and a real one stay the same), and not on the client address: guessing one
  account's password from many addresses is throttled all the same. The price, inherent to any
  per-account lockout, is that anyone can lock an account for up to one window by guessing wrong.
- It is kept in the database, not in the process: the failures *are* the ``login-failure`` rows
  of the append-only audit trail, so the throttle holds across workers and restarts and nobody
  can reset it without leaving a trace. An index on ``audit_log (username, action, at)`` keeps the
  count cheap. Attempts arriving at the very same moment in parallel workers may each see the
  count before the others' failures, so the bound can be exceeded by the number of attempts in
  flight at once.
- A successful login does not clear earlier failures: the count is a plain rate.
- Audit rows (never the attempted password): ``login-failure`` for a wrong username or password,
  ``login-lockout`` when a failure brings the username to the limit (with the time it lifts), and
  ``login-refused`` for each attempt turned away while locked. Each records the client address.
- Times come from an injectable clock (``create_app(clock=...)``) so tests need no sleeps.
- Every attempt that is not refused runs exactly one bcrypt check of the accounts' cost: against
  the user's hash, or against a dummy hash when the username is unknown or retired
  (:func:`irelab.registry.security.dummy_password_check`), so the time of the answer does not
  tell whether an account exists. Such attempts are throttled alike too.
- An account waiting for a second admin's approval (:mod:`irelab.registry.accounts`) cannot log
  in: with the right password it is told so (:class:`AccountPending`, HTTP 403).
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from irelab.registry.audit import record_event
from irelab.registry.models import AuditEntry, User
from irelab.registry.security import (
    BCRYPT_ROUNDS,
    AuthError,
    check_password,
    dummy_password_check,
)

#: Failed logins of one username that lock it (OWASP "lockout threshold").
MAX_LOGIN_FAILURES = 5
#: Window over which failures are counted, and so the longest a lockout lasts (OWASP
#: "observation window" = "lockout duration"): long enough that guessing is slow (at most
#: 5 guesses per 15 minutes, 480 a day), short enough that a locked-out user waits a coffee break.
LOGIN_FAILURE_WINDOW = dt.timedelta(minutes=15)
#: Usernames are stored (and throttled) up to the length of the ``username`` column.
USERNAME_MAX_CHARS = 64


class LoginLocked(Exception):
    """Too many failed logins for this username (HTTP 429); ``until`` is when it lifts."""

    def __init__(self, until: dt.datetime, now: dt.datetime) -> None:
        self.until = until
        #: Seconds until the lock lifts, rounded up (the ``Retry-After`` header, RFC 9110 10.2.3).
        self.retry_after_s = max(1, math.ceil((until - now).total_seconds()))
        super().__init__(
            f"too many failed logins for this username: try again after "
            f"{until:%Y-%m-%d %H:%M} UTC ({self.retry_after_s} s)"
        )


class AccountPending(Exception):
    """The right password of an account that a second admin has not approved yet (HTTP 403)."""


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock of the app)."""
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time stored here is UTC
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def locked_until(session: Session, username: str, now: dt.datetime) -> dt.datetime | None:
    """When the lock on ``username`` lifts, or None if it may try to log in at ``now``.

    Locked while the window ending at ``now`` holds :data:`MAX_LOGIN_FAILURES` failures; it
    lifts when the oldest of the newest that many failures leaves the window.
    """
    recent = session.scalars(
        select(AuditEntry.at)
        .where(
            AuditEntry.username == username[:USERNAME_MAX_CHARS],
            AuditEntry.action == "login-failure",
            AuditEntry.at > now - LOGIN_FAILURE_WINDOW,
        )
        .order_by(AuditEntry.at.desc())
        .limit(MAX_LOGIN_FAILURES)
    ).all()
    if len(recent) < MAX_LOGIN_FAILURES:
        return None
    return _utc(min(recent)) + LOGIN_FAILURE_WINDOW


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    now: dt.datetime | None = None,
    client: str | None = None,
    rounds: int = BCRYPT_ROUNDS,
) -> User:
    """The active user with these credentials.

    Raises :class:`LoginLocked` (429) while ``username`` is locked, without checking the
    password, :class:`~irelab.registry.security.AuthError` (401) for a wrong username or
    password, :class:`AccountPending` (403) for an account not yet approved; ``rounds`` is the
    bcrypt cost of the dummy check for unknown usernames (that of the accounts). Either way the
    audit rows are committed on their own, so they are kept although the request fails, and the
    message does not say whether the username exists.
    """
    now = now or utc_now()
    key = username[:USERNAME_MAX_CHARS]
    until = locked_until(session, key, now)
    if until is not None:
        session.rollback()
        after = {"locked_until": until.isoformat(), "client": client}
        record_event(session, "login-refused", key, table_name="users", after=after, at=now)
        session.commit()
        raise LoginLocked(until, now)
    user = session.scalars(
        select(User).where(User.username == username, User.retired_at.is_(None))
    ).first()
    if user is None:
        dummy_password_check(rounds)
    if user is None or not check_password(password, user.password_hash):
        session.rollback()
        record_event(
            session, "login-failure", key, table_name="users", after={"client": client}, at=now
        )
        session.flush()
        until = locked_until(session, key, now)
        if until is not None:
            after = {
                "failures": MAX_LOGIN_FAILURES,
                "window_s": int(LOGIN_FAILURE_WINDOW.total_seconds()),
                "locked_until": until.isoformat(),
                "client": client,
            }
            record_event(session, "login-lockout", key, table_name="users", after=after, at=now)
        session.commit()
        raise AuthError("wrong username or password")
    if user.approved_at is None:
        raise AccountPending(
            "this account waits for a second admin's approval before it can log in"
        )
    return user

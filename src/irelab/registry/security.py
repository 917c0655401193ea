"""Passwords, signed tokens and what each role may do.

Passwords are stored as bcrypt hashes (``bcrypt.hashpw`` with a per-password salt, cost 12 by
default). Tokens are JWTs signed with HS256 (PyJWT) carrying the username, an expiry and a random
token id (``jti``, so two logins never share a token, nor the CSRF token derived from it); a forged
signature, an expired token or an unknown/retired user is refused (HTTP 401). The role is read
from the database on every request, never trusted from the token.

Roles (the issue's list; the admin decision is ours):

- ``investigator``: enters and corrects data of their own site only; other sites' records are
  answered with 404, exactly like records that do not exist, so their existence does not leak.
- ``data_manager``: all sites, corrections, retiring; reads the audit trail.
- ``monitor``: reads all sites, pseudonymised (free text removed, every date shifted by the
  patient's random offset); cannot write (403).
- ``admin``: manages sites and users; cannot read patient data (403) - administering accounts
  does not need clinical data, so the role that can create accounts cannot also read them.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import bcrypt
import jwt

TOKEN_ALGORITHM = "HS256"
TOKEN_LIFETIME = dt.timedelta(hours=8)
#: bcrypt cost factor; 12 is the library's default (bcrypt.gensalt()).
BCRYPT_ROUNDS = 12

CLINICAL_READERS = frozenset({"investigator", "data_manager", "monitor"})
CLINICAL_WRITERS = frozenset({"investigator", "data_manager"})
ALL_SITES = frozenset({"data_manager", "monitor"})


class AuthError(Exception):
    """Bad credentials or token (HTTP 401)."""


@dataclass(frozen=True)
class Actor:
    """The authenticated user a request acts as."""

    username: str
    role: str
    site_id: int | None

    @property
    def pseudonymised(self) -> bool:
        """Whether this actor sees pseudonymised data (no free text, shifted dates)."""
        return self.role == "monitor"

    @property
    def all_sites(self) -> bool:
        return self.role in ALL_SITES

    @property
    def reads_clinical(self) -> bool:
        return self.role in CLINICAL_READERS

    @property
    def writes_clinical(self) -> bool:
        return self.role in CLINICAL_WRITERS


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """The bcrypt hash of ``password`` (at most 72 bytes, bcrypt's limit)."""
    if len(password.encode()) > 72:
        raise ValueError("passwords are limited to 72 bytes by bcrypt")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant-time inside bcrypt)."""
    encoded = password.encode()
    if len(encoded) > 72:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


def issue_token(
    username: str,
    secret: str,
    *,
    lifetime: dt.timedelta = TOKEN_LIFETIME,
    now: dt.datetime | None = None,
) -> str:
    """A signed token for ``username`` that expires after ``lifetime`` (unique: random ``jti``)."""
    now = now or dt.datetime.now(dt.UTC)
    claims = {"sub": username, "iat": now, "exp": now + lifetime, "jti": secrets.token_urlsafe(16)}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALGORITHM)


def token_subject(token: str, secret: str) -> str:
    """The username in ``token``; :class:`AuthError` if forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired: log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid token") from exc
    return str(claims["sub"])

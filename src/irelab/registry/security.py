"""Passwords, signed tokens and what each role may do.

Passwords are stored as bcrypt hashes (``bcrypt.hashpw`` with a per-password salt, cost 12 by
default). A login for an unknown or retired username, or with a password bcrypt cannot take
(over 72 bytes), still runs one bcrypt check against a dummy hash of the same cost
(:func:`dummy_password_check`), so the answer takes as long whether or not the account exists.

Tokens are JWTs signed with HS256 (PyJWT) carrying the username, an expiry and a random token id
(``jti``, so two logins never share a token, nor the CSRF token derived from it); a forged
signature, an expired token, a token without ``jti``, a token whose ``jti`` was revoked by a
logout (the ``revoked_tokens`` table, shared by every worker) or an unknown/retired user is
refused (HTTP 401). The role is read from the database on every request, never trusted from the
token.

Roles (the admin's limits are a design decision):

- ``investigator``: enters and corrects data of their own site only; other sites' records are
  answered with 404, exactly like records that do not exist, so their existence does not leak.
- ``data_manager``: all sites, corrections, retiring; reads the audit trail.
- ``monitor``: reads all sites, pseudonymised (free text removed, every date shifted by the
  patient's random offset); cannot write (403).
- ``admin``: manages sites and users; cannot read patient data (403) - administering accounts
  does not need clinical data, so the role that can create accounts cannot also read them. An
  account with a clinical role that an admin creates stays pending until a *second* admin
  approves it, so one admin cannot give themselves clinical access
  (:mod:`irelab.registry.accounts`).
"""

from __future__ import annotations

import datetime as dt
import functools
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
    #: the account's record number (None for command-line actors that are no account)
    user_id: int | None = None

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


def _encoded(password: str) -> bytes | None:
    """The UTF-8 bytes bcrypt takes, or None when it cannot (too long, not encodable)."""
    try:
        encoded = password.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) <= 72 else None


def check_password(password: str, password_hash: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant-time inside bcrypt).

    A password bcrypt cannot take is checked against a dummy hash of the same cost, so it costs
    the same time as any other wrong password.
    """
    encoded = _encoded(password)
    if encoded is None:
        dummy_password_check(hash_cost(password_hash))
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


def hash_cost(password_hash: str) -> int:
    """The cost factor of a bcrypt hash (``$2b$12$...`` -> 12); the default if unreadable."""
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return BCRYPT_ROUNDS


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))


def dummy_password_check(rounds: int = BCRYPT_ROUNDS) -> None:
    """One bcrypt check of cost ``rounds`` whose answer is thrown away (no account to check)."""
    bcrypt.checkpw(b"no account has this password", _dummy_hash(rounds))


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


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: who, which token (``jti``) and until when."""

    username: str
    jti: str
    expires_at: dt.datetime


def token_claims(token: str, secret: str) -> TokenClaims:
    """The claims of ``token``; :class:`AuthError` if forged, expired or malformed."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired: log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError("invalid token") from exc
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 64:
        raise AuthError("invalid token")
    expires = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    return TokenClaims(str(claims["sub"]), jti, expires)


def token_subject(token: str, secret: str) -> str:
    """The username in ``token``; :class:`AuthError` if forged, expired or malformed."""
    return token_claims(token, secret).username

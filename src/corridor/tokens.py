"""API tokens: how scripts sign in to the JSON API (``Authorization: Bearer <token>``).

A token belongs to an account and acts with that account's role and department as they
are at the time of each request: a disabled account's tokens stop working, a role change
applies at once. The token itself is shown once, when made; the project keeps only its
SHA-256 (a token is 256 random bits, so a fast hash is enough: there is nothing to guess).
A token is named by its id, the first characters of that hash, to list or revoke it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from .accounts import User, get_user
from .errors import InputError

TOKEN_PREFIX = "crd_"
TOKEN_ID_LENGTH = 12  # hex characters of the hash that name a token
MAX_LABEL = 200


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    user_name: str
    label: str | None
    created_at: dt.datetime
    revoked: bool

    def to_dict(self) -> dict:
        return {"token_id": self.token_id, "user_name": self.user_name, "label": self.label,
                "created_at": self.created_at.isoformat(), "revoked": self.revoked}


@dataclass(frozen=True)
class NewToken:
    token: str  # shown this once
    info: TokenInfo


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row) -> TokenInfo:
    return TokenInfo(row[0][:TOKEN_ID_LENGTH], row[1], row[2], row[3], bool(row[4]))


def create_token(project, user_name: str, label: str | None = None) -> NewToken:
    """A new token for the account ``user_name`` (which must exist and be enabled)."""
    user = get_user(project, user_name)
    if user is None:
        raise InputError(f"There is no user {user_name!r}.")
    if user.disabled:
        raise InputError(f"{user_name} is disabled; enable the account before giving it a"
                         " token.")
    if label is not None and len(label) > MAX_LABEL:
        raise InputError(f"A token label has at most {MAX_LABEL} characters.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    digest = token_hash(token)
    project.con.execute("INSERT INTO api_tokens VALUES (?, ?, ?, ?, false)",
                        [digest, user.user_name, label, now])
    return NewToken(token, TokenInfo(digest[:TOKEN_ID_LENGTH], user.user_name, label, now,
                                     False))


def list_tokens(project, user_name: str | None = None) -> list[TokenInfo]:
    rows = project.con.execute(
        "SELECT token_hash, user_name, label, created_at, revoked FROM api_tokens"
        " WHERE ? IS NULL OR user_name = ? ORDER BY created_at, token_hash",
        [user_name, user_name]).fetchall()
    return [_info(r) for r in rows]


def revoke_token(project, token_id: str) -> TokenInfo:
    """Revoke the token named ``token_id`` (its id as listed)."""
    token_id = (token_id or "").strip().lower()
    if len(token_id) != TOKEN_ID_LENGTH or any(c not in "0123456789abcdef" for c in token_id):
        raise InputError(f"A token id is {TOKEN_ID_LENGTH} hexadecimal characters, as"
                         " 'corridor token list' shows it.")
    rows = project.con.execute(
        "SELECT token_hash, user_name, label, created_at, revoked FROM api_tokens"
        " WHERE starts_with(token_hash, ?)", [token_id]).fetchall()
    if not rows:
        raise InputError(f"There is no token {token_id}.")
    project.con.execute("UPDATE api_tokens SET revoked = true WHERE token_hash = ?",
                        [rows[0][0]])
    return _info((*rows[0][:4], True))


def token_user(project, token: str) -> User | None:
    """The enabled account a valid, unrevoked ``token`` belongs to; else None."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = project.con.execute(
        "SELECT user_name FROM api_tokens WHERE token_hash = ? AND NOT revoked",
        [token_hash(token)]).fetchone()
    user = None if row is None else get_user(project, row[0])
    return None if user is None or user.disabled else user

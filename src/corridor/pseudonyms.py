"""Pseudonymised identifiers: customer and case ids replaced by a keyed hash whose key
lives outside the project file (ADR 0011).

A project says in its ``meta`` table whether it pseudonymises (``pseudonymise`` = ``on``
or ``off``) and carries a stable ``project_id``; a project without these rows (made
before) does not pseudonymise. The key is 32 random bytes in ``<project_id>.key`` in the
key folder (``$CORRIDOR_KEY_DIR``, else ``~/.config/corridor/keys``): never in the
project, never printed. A copy of a project file uses the same key.

A pseudonym is a prefix and the first 20 base32 characters (100 bits) of
HMAC-SHA256(key, domain + NUL + id): the same id always gives the same pseudonym, so
loads join, and without the key an id cannot be turned into its pseudonym or back.
Ingest computes it in SQL (:func:`pseudonym_sql`, with the key bound to the connection
by :meth:`Key.bound`); :meth:`Key.pseudonym` computes the same in Python.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .errors import ProjectError
from .schema import Kind

KEY_DIR_VARIABLE = "CORRIDOR_KEY_DIR"
DEFAULT_KEY_DIR = Path("~/.config/corridor/keys")
SETTING = "pseudonymise"  # meta key: 'on' or 'off'
PROJECT_ID = "project_id"  # meta key: a uuid4, names the key file
KEY_BYTES = 32
LENGTH = 20  # base32 characters = 100 bits; see ADR 0011 for the collision risk


class Domain(Enum):
    """What an id names; the same text gives different pseudonyms in each."""

    CUSTOMER = "customer"
    CASE = "case"

    @property
    def prefix(self) -> str:
        return {"customer": "cu_", "case": "ca_"}[self.value]


# The columns each kind of file holds identifiers in. customer_pii takes its
# customer_id from the customers load, so it is pseudonymised with it.
IDENTIFIERS: dict[Kind, dict[str, Domain]] = {
    Kind.CUSTOMERS: {"customer_id": Domain.CUSTOMER, "parent_id": Domain.CUSTOMER},
    Kind.EVENTS: {"customer_id": Domain.CUSTOMER, "case_id": Domain.CASE},
    Kind.TRANSACTIONS: {"customer_id": Domain.CUSTOMER},
    Kind.FEEDBACK: {"customer_id": Domain.CUSTOMER},
}

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, in lower case
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> two characters
_INNER = "corridor_pseudonym_inner_{domain}"
_OUTER = "corridor_pseudonym_outer"
_PAIRS_VARIABLE = "corridor_pseudonym_pairs"


@dataclass(frozen=True)
class Status:
    """Whether a project pseudonymises, and where its key belongs."""

    on: bool
    project_id: str | None
    key_path: Path | None  # None for a project that does not pseudonymise

    @property
    def key_missing(self) -> bool:
        return self.on and (self.key_path is None or not self.key_path.is_file())


@dataclass(frozen=True)
class Key:
    """A project's pseudonymisation key (the secret stays out of ``repr``)."""

    project_id: str
    path: Path
    secret: bytes = field(repr=False)

    def pseudonym(self, domain: Domain, value: str) -> str:
        digest = hmac.digest(self.secret, _message(domain, value), "sha256")
        return domain.prefix + base64.b32encode(digest).decode("ascii")[:LENGTH].lower()

    @contextmanager
    def bound(self, con) -> Iterator[None]:
        """Make :func:`pseudonym_sql` work on ``con`` while the block runs: the key's
        HMAC pads are session variables, passed as parameters so that no query text
        (which error messages quote) holds them."""
        block = self.secret.ljust(64, b"\0")
        inner = bytes(b ^ 0x36 for b in block)
        names = [_OUTER, _PAIRS_VARIABLE]
        con.execute(f"SET VARIABLE {_OUTER} = ?", [bytes(b ^ 0x5C for b in block)])
        con.execute(f"SET VARIABLE {_PAIRS_VARIABLE} = ?", [_PAIRS])
        for domain in Domain:
            name = _INNER.format(domain=domain.value)
            names.append(name)
            con.execute(f"SET VARIABLE {name} = ?", [inner + _message(domain, "")])
        try:
            yield
        finally:
            for name in names:
                con.execute(f"RESET VARIABLE {name}")


def _message(domain: Domain, value: str) -> bytes:
    return domain.value.encode("ascii") + b"\0" + value.encode("utf-8")


def pseudonym_sql(expr: str, domain: Domain) -> str:
    """SQL for the pseudonym of the text ``expr`` (NULL stays NULL), for a connection
    inside :meth:`Key.bound`. HMAC is two SHA-256 over the key's pads; the first 100
    bits of its hex digest are read as two integers (60 + 40 bits) and spelt 10 bits at
    a time from a table of base32 character pairs."""
    inner = _INNER.format(domain=domain.value)
    digest = (f"sha256(getvariable('{_OUTER}') || unhex(sha256("
              f"getvariable('{inner}') || encode({expr}))))")
    high = f"('0x' || substr({digest}, 1, 15))::UBIGINT"
    low = f"('0x' || substr({digest}, 16, 10))::UBIGINT"
    pairs = [f"getvariable('{_PAIRS_VARIABLE}')[(({high} >> {50 - 10 * i}) & 1023)::INTEGER + 1]"
             for i in range(6)]
    pairs += [f"getvariable('{_PAIRS_VARIABLE}')[(({low} >> {30 - 10 * i}) & 1023)::INTEGER + 1]"
              for i in range(4)]
    # concat() skips NULLs, so a NULL id spells the bare prefix, which nullif() turns
    # back into NULL. (A CASE around it would stop DuckDB from computing the digest once
    # for all its uses: six times slower.)
    return f"nullif(concat('{domain.prefix}', {', '.join(pairs)}), '{domain.prefix}')"


def looks_like(domain: Domain, text: str) -> bool:
    """True when ``text`` has the form of a pseudonym of ``domain``."""
    body = text[len(domain.prefix):]
    return (text.startswith(domain.prefix) and len(body) == LENGTH
            and all(ch in _ALPHABET for ch in body))


# -- where keys live -------------------------------------------------------------------


def key_dir() -> Path:
    given = os.environ.get(KEY_DIR_VARIABLE)
    return Path(given).expanduser() if given else DEFAULT_KEY_DIR.expanduser()


def key_path(project_id: str) -> Path:
    return key_dir() / f"{project_id}.key"


# -- a project's setting ---------------------------------------------------------------


def status(project) -> Status:
    """Whether ``project`` pseudonymises; older projects (no rows in meta) do not."""
    rows = dict(project.con.execute(
        "SELECT key, value FROM meta WHERE key IN (?, ?)", [SETTING, PROJECT_ID]).fetchall())
    project_id = rows.get(PROJECT_ID)
    on = rows.get(SETTING) == "on"
    return Status(on, project_id, key_path(project_id) if on and project_id else None)


def turn_on(project) -> Path:
    """Make a new project pseudonymise: a fresh project id, a fresh key in the key
    folder, and the two meta rows; returns where the key is. Only for a project with
    no rows yet (an id loaded before would stay raw beside pseudonymised ones)."""
    _check_empty(project)
    project_id = str(uuid.uuid4())
    path = _write_key(project_id, secrets.token_bytes(KEY_BYTES))
    try:
        _set(project, on=True, project_id=project_id)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def turn_off(project) -> None:
    """Record that ``project`` keeps identifiers as they come (``--no-pseudonymise``)."""
    _check_empty(project)
    _set(project, on=False, project_id=str(uuid.uuid4()))


def require_key(project) -> Key | None:
    """The key for loading into ``project``: None when it does not pseudonymise, a
    :class:`ProjectError` when it does and the key is not where it belongs."""
    state = status(project)
    if not state.on:
        return None
    key = _read_key(state)
    if key is None:
        raise ProjectError(
            f"{project.path} pseudonymises customer and case ids but its key is missing"
            f" (expected at {state.key_path}); restore the key file there, or set"
            f" {KEY_DIR_VARIABLE} to the folder that holds it, and load again.")
    return key


def find_key(project) -> Key | None:
    """The key of ``project`` when it pseudonymises and the key is in place, else None."""
    state = status(project)
    return _read_key(state) if state.on else None


def forget_key(project) -> None:
    """Remove the key of ``project`` (for a demo project that a new demo replaces)."""
    state = status(project)
    if state.key_path is not None:
        state.key_path.unlink(missing_ok=True)


def _check_empty(project) -> None:
    loaded = project.con.execute("SELECT count(*) FROM loads").fetchone()[0]
    if loaded:
        raise ProjectError(f"{project.path} already holds loaded data; pseudonymisation is"
                           " chosen when a project is created.")


def _set(project, *, on: bool, project_id: str) -> None:
    project.con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                            [(SETTING, "on" if on else "off"), (PROJECT_ID, project_id)])


def _write_key(project_id: str, secret: bytes) -> Path:
    folder = key_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        path = folder / f"{project_id}.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secret.hex() + "\n")
    except OSError as exc:
        raise ProjectError(f"Cannot write the pseudonymisation key into {folder}"
                           f" ({exc.strerror or exc}); set {KEY_DIR_VARIABLE} to a"
                           " private folder you can write.") from exc
    return path


def _read_key(state: Status) -> Key | None:
    if state.key_path is None or state.project_id is None:
        return None
    try:
        text = state.key_path.read_text(encoding="ascii").strip()
        secret = bytes.fromhex(text)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProjectError(f"The pseudonymisation key {state.key_path} cannot be read"
                           " as a key; restore it from your backup.") from exc
    if len(secret) != KEY_BYTES:
        raise ProjectError(f"The pseudonymisation key {state.key_path} cannot be read"
                           " as a key; restore it from your backup.")
    return Key(state.project_id, state.key_path, secret)

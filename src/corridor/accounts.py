"""Accounts and roles: who may use corridor and what each role may do.

Five roles, ordered by power (:class:`Role`): staff, department head, manager, analyst,
admin. What each may do is one explicit table, :data:`PERMISSIONS`; a department head's
edits are further limited to the touchpoints of their own department (the web app checks
that with :func:`may_edit_department`). Which customer a figure is about (customer ids,
customers' own words) is one rule for every page, the API and the report: only roles with
``Permission.CUSTOMER_PII`` see it (:mod:`corridor.disclosure`).

Passwords are hashed with argon2id (19 MiB, two passes: OWASP's minimum) and never
stored or logged in clear; a password shorter than 12 characters is refused.
:func:`authenticate` takes the same time for an unknown user as for a known one.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import InputError

MIN_PASSWORD_LENGTH = 12
# Longer is never a password of ours: a sign-in with one fails without being hashed.
MAX_PASSWORD_LENGTH = 1024
# argon2id at OWASP's minimum: 19 MiB of memory, two passes, one lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(enum.Enum):
    """The roles, weakest first."""

    STAFF = "staff"
    DEPARTMENT_HEAD = "department_head"
    MANAGER = "manager"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def __lt__(self, other: "Role") -> bool:
        return self.rank < other.rank

    @classmethod
    def parse(cls, value: "str | Role") -> "Role":
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            raise InputError(f"Unknown role {value!r}; expected one of "
                             f"{', '.join(r.value for r in Role)}.") from None


class Permission(enum.Enum):
    AGGREGATES = "aggregates"          # the analytic pages: counts, rates, scores
    COURSE = "course"                  # read incidents, their whys and actions
    CUSTOMER_PII = "customer_pii"      # customer ids, names, emails, phones, feedback texts, quotes
    EDIT_OWN_DEPARTMENT = "edit_own_department"  # incidents of their department's touchpoints
    EDIT_ALL = "edit_all"              # any incident, why or action
    EXPORT = "export"                  # customer data export and erasure
    LOAD_DATA = "load_data"            # load files into the project (API uploads)
    MANAGE_USERS = "manage_users"      # add, disable, change roles
    AUDIT = "audit"                    # read the audit log
    TEAM_PROGRESS = "team_progress"    # course progress of their department's people
    COMPANY_PROGRESS = "company_progress"  # course progress of everyone
    ASSESS_MATURITY = "assess_maturity"  # see and take the customer-focus maturity assessment


_P = Permission
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.STAFF: frozenset({_P.AGGREGATES, _P.COURSE}),
    Role.DEPARTMENT_HEAD: frozenset({_P.AGGREGATES, _P.COURSE, _P.EDIT_OWN_DEPARTMENT,
                                     _P.TEAM_PROGRESS}),
    Role.MANAGER: frozenset({_P.AGGREGATES, _P.COURSE, _P.CUSTOMER_PII,
                             _P.EDIT_OWN_DEPARTMENT, _P.EDIT_ALL, _P.TEAM_PROGRESS,
                             _P.COMPANY_PROGRESS, _P.ASSESS_MATURITY}),
    Role.ANALYST: frozenset({_P.AGGREGATES, _P.COURSE, _P.CUSTOMER_PII,
                             _P.EDIT_OWN_DEPARTMENT, _P.EDIT_ALL, _P.EXPORT, _P.LOAD_DATA,
                             _P.TEAM_PROGRESS, _P.COMPANY_PROGRESS, _P.ASSESS_MATURITY}),
    Role.ADMIN: frozenset(Permission),
}


def may(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def may_edit_department(role: Role, own_department: str | None,
                        department: str | None) -> bool:
    """Whether ``role`` (of ``own_department``) may edit an incident or action of
    ``department`` (None: an incident of no known department, which only roles that may
    edit everything can touch)."""
    if may(role, Permission.EDIT_ALL):
        return True
    return (may(role, Permission.EDIT_OWN_DEPARTMENT) and own_department is not None
            and department == own_department)


@dataclass(frozen=True)
class User:
    user_name: str
    role: Role
    department_id: str | None
    disabled: bool
    created_at: dt.datetime
    password_changed_at: dt.datetime

    def may(self, permission: Permission) -> bool:
        return may(self.role, permission)

    def to_dict(self) -> dict:
        return {"user_name": self.user_name, "role": self.role.value,
                "department_id": self.department_id, "disabled": self.disabled,
                "created_at": self.created_at.isoformat(),
                "password_changed_at": self.password_changed_at.isoformat()}


@dataclass(frozen=True)
class NewUser:
    """A user just added, with the password to hand over (shown once, never stored)."""

    user: User
    password: str
    generated: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def generate_password() -> str:
    """A one-time password: 20 random URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError(f"A password may have at most {MAX_PASSWORD_LENGTH:,} characters.")


def hash_password(password: str) -> str:
    check_password(password)
    return HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified when the user is unknown, so that an unknown name takes as long as a
    known one (made on first use: no work at import)."""
    return HASHER.hash(secrets.token_urlsafe(16))


def _check_name(user_name: str) -> str:
    if not isinstance(user_name, str) or not USER_NAME.match(user_name):
        raise InputError(f"{user_name!r} is not a valid user name: use 1 to 64 letters, "
                         "digits, dots, dashes, underscores or @, starting with a letter "
                         "or digit.")
    return user_name


def _check_department(project, role: Role, department_id: str | None) -> str | None:
    if role is Role.DEPARTMENT_HEAD and not department_id:
        raise InputError("A department head needs a department (--department).")
    if department_id is None:
        return None
    known = project.con.execute(
        "SELECT count(*) FROM departments WHERE department_id = ?", [department_id]
    ).fetchone()[0]
    used = project.con.execute(
        "SELECT count(*) FROM touchpoints WHERE department_id = ?", [department_id]
    ).fetchone()[0]
    if not known and not used:
        raise InputError(f"There is no department {department_id!r} in this project.")
    return department_id


def _row_to_user(row) -> User:
    name, role, department, disabled, created, changed = row
    return User(name, Role(role), department, bool(disabled), created, changed)


_COLUMNS = "user_name, role, department_id, disabled, created_at, password_changed_at"


def get_user(project, user_name: str) -> User | None:
    row = project.con.execute(f"SELECT {_COLUMNS} FROM users WHERE user_name = ?",
                              [user_name]).fetchone()
    return None if row is None else _row_to_user(row)


def _require(project, user_name: str) -> User:
    user = get_user(project, user_name)
    if user is None:
        raise InputError(f"There is no user {user_name!r}.")
    return user


def list_users(project) -> list[User]:
    rows = project.con.execute(f"SELECT {_COLUMNS} FROM users ORDER BY user_name").fetchall()
    return [_row_to_user(r) for r in rows]


def add_user(project, user_name: str, role: Role | str, *, department_id: str | None = None,
             password: str | None = None, actor: str = "cli",
             address: str | None = None) -> NewUser:
    """Add an account. With no ``password`` a one-time password is generated; either
    way it is returned once, and only its argon2id hash is stored."""
    from .audit import record

    _check_name(user_name)
    role = Role.parse(role)
    department_id = _check_department(project, role, department_id)
    if get_user(project, user_name) is not None:
        raise InputError(f"There is already a user {user_name!r}.")
    generated = password is None
    password = generate_password() if generated else password
    digest = hash_password(password)
    now = _now()
    project.con.execute("INSERT INTO users VALUES (?, ?, ?, ?, false, ?, ?)",
                        [user_name, digest, role.value, department_id, now, now])
    record(project, actor, "user.add", user_name,
           {"role": role.value, "department_id": department_id}, address=address)
    return NewUser(User(user_name, role, department_id, False, now, now), password, generated)


def set_role(project, user_name: str, role: Role | str, *,
             department_id: str | None = None, actor: str = "cli",
             address: str | None = None) -> User:
    """Change a user's role (and department); their open sessions end."""
    from .audit import record

    before = _require(project, user_name)
    role = Role.parse(role)
    department_id = _check_department(project, role, department_id)
    project.con.execute("UPDATE users SET role = ?, department_id = ? WHERE user_name = ?",
                        [role.value, department_id, user_name])
    record(project, actor, "user.set_role", user_name,
           {"from": before.role.value, "to": role.value,
            "department_id": department_id}, address=address)
    return _require(project, user_name)


def disable_user(project, user_name: str, *, actor: str = "cli",
                 address: str | None = None) -> User:
    """Disable an account: it can no longer log in and its sessions end."""
    from .audit import record

    _require(project, user_name)
    project.con.execute("UPDATE users SET disabled = true WHERE user_name = ?", [user_name])
    record(project, actor, "user.disable", user_name, {}, address=address)
    return _require(project, user_name)


def set_password(project, user_name: str, password: str) -> None:
    _require(project, user_name)
    project.con.execute(
        "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE user_name = ?",
        [hash_password(password), _now(), user_name])


@dataclass(frozen=True)
class Authentication:
    """The outcome of a login attempt: the user when the password was right, and a new
    hash to store when the stored one was made with weaker parameters."""

    user: User | None
    rehash: str | None = None


@dataclass(frozen=True)
class Credentials:
    """A user and their stored hash, read from the project; checked with :func:`verify`
    (which needs no project, so a server can check without holding the file)."""

    user: User
    password_hash: str


def credentials(project, user_name: str) -> Credentials | None:
    if not isinstance(user_name, str) or not USER_NAME.match(user_name):
        return None
    row = project.con.execute(
        f"SELECT password_hash, {_COLUMNS} FROM users WHERE user_name = ?",
        [user_name]).fetchone()
    return None if row is None else Credentials(_row_to_user(row[1:]), row[0])


def verify(found: Credentials | None, password: str) -> Authentication:
    """Check ``password`` against ``found`` (None: an unknown user). Unknown users,
    disabled users and wrong passwords all fail the same way and take the same time."""
    stored = found.password_hash if found is not None else _dummy_hash()
    unusable = not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH
    try:
        HASHER.verify(stored, "" if unusable else password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Authentication(None)
    if unusable or found is None or found.user.disabled:
        return Authentication(None)
    rehash = HASHER.hash(password) if HASHER.check_needs_rehash(stored) else None
    return Authentication(found.user, rehash)


def authenticate(project, user_name: str, password: str) -> Authentication:
    """Check a user name and password against the project's accounts."""
    return verify(credentials(project, user_name), password)


def store_rehash(project, user_name: str, digest: str) -> None:
    """Keep a stronger hash of the same password (from :func:`authenticate`)."""
    project.con.execute("UPDATE users SET password_hash = ? WHERE user_name = ?",
                        [digest, user_name])

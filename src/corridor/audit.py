"""The audit log: who did what, when and from where.

Logins, failed logins, logouts, account changes, every edit of incidents, whys and
actions, exports and erasures each leave one row in ``audit_log``. The log is
append-only: :func:`record` only ever INSERTs, and nothing in the app or the command line
updates or deletes a row (the web app shows it read-only to admins). The one exception is
the right to erasure: :func:`corridor.privacy.erase_customer` replaces the erased
customer's identifiers in earlier entries with ``[erased customer]`` and keeps the rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: dt.datetime
    actor: str
    address: str | None
    action: str
    target: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict:
        return {"audit_id": self.audit_id, "at": self.at.isoformat(), "actor": self.actor,
                "address": self.address, "action": self.action, "target": self.target,
                "detail": self.detail}


def record(project, actor: str, action: str, target: str | None = None,
           detail: dict[str, Any] | None = None, address: str | None = None,
           *, at: dt.datetime | None = None) -> None:
    """Append one entry to the project's audit log (in the caller's transaction, if
    any). ``detail`` is any JSON-serialisable mapping; never put a password in it."""
    when = at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    project.con.execute(
        """INSERT INTO audit_log
           SELECT coalesce(max(audit_id), 0) + 1, ?, ?, ?, ?, ?, ? FROM audit_log""",
        [when, str(actor), address, str(action), None if target is None else str(target),
         json.dumps(detail or {}, ensure_ascii=False, default=str, sort_keys=True)],
    )


def cli_actor() -> str:
    """The actor of a command-line change: the operating-system user who ran it."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "cli:unknown"


def latest(project, limit: int = 200) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first."""
    rows = project.con.execute(
        "SELECT audit_id, \"at\", actor, address, action, target, detail FROM audit_log"
        " ORDER BY audit_id DESC LIMIT ?", [int(limit)]).fetchall()
    return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}"))
            for r in rows]

"""The step table kept in the project (ADR 0010): events put in case order once, when they
are loaded, rather than at every analysis.

Every journey analytic starts from the step table (:mod:`corridor.steps`); building it is
one sort of all events, the largest single cost of an analysis. A load of events ends by
bringing the stored table up to date inside the load's transaction, so the table and the
events always change together:

- only the cases that the load touched are ordered again (their old steps are deleted
  and their steps rebuilt from all their events), as long as the load brought no new
  touchpoint;
- a new touchpoint, or events that changed outside loads (so the count no longer
  matches), rebuild the whole table, keeping the dictionary's codes in name order.

An analysis of all events uses the stored table when its fingerprint (the number of
events and the last events load) matches the events; otherwise (an older project, or
events added or removed by something other than a load) it falls back to ordering the
events itself, which gives the same answers, only slower. The fingerprint cannot see an
UPDATE of events: whatever changes events in place must call
``refresh_steps(project, full=True)`` in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import ibis.expr.types as ir

from .steps import CaseSteps, TouchpointCodes, case_steps, touchpoint_codes

STEPS_TABLE = "case_steps"
CODES_TABLE = "case_step_codes"
META_KEY = "case_steps"
DERIVED_TABLES = (STEPS_TABLE, CODES_TABLE)  # what erasing a customer must also clean


@dataclass(frozen=True)
class Fingerprint:
    events: int  # rows in the events table
    last_load: int | None  # the last load of events

    def to_json(self) -> str:
        return json.dumps({"events": self.events, "last_load": self.last_load})


def fingerprint(con) -> Fingerprint:
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    last = con.execute("SELECT max(load_id) FROM loads WHERE kind = 'events'").fetchone()[0]
    return Fingerprint(int(events), None if last is None else int(last))


def _stored_fingerprint(con) -> Fingerprint | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()
    if row is None:
        return None
    value = json.loads(row[0])
    return Fingerprint(value["events"], value["last_load"])


def _has_tables(con) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN (?, ?) AND NOT temporary",
        list(DERIVED_TABLES)).fetchone()[0]
    return found == len(DERIVED_TABLES)


def _stored_codes(con) -> TouchpointCodes:
    rows = con.execute(f"SELECT touchpoint FROM {CODES_TABLE} ORDER BY code").fetchall()
    return TouchpointCodes(tuple(r[0] for r in rows))


def stored_steps(project) -> CaseSteps | None:
    """The stored step table of all the project's events, or None when it is missing
    or does not match the events."""
    con = project.con
    if not _has_tables(con):
        return None
    stored = _stored_fingerprint(con)
    if stored is None or stored != fingerprint(con):
        return None
    codes = _stored_codes(con)
    return CaseSteps(project.table(STEPS_TABLE), codes, codes.table(),
                     project.table("events"), is_cached=True)


def steps_or_events(project) -> CaseSteps | ir.Table:
    """What a journey analytic of all events should start from: the stored steps when
    they are up to date, else the events."""
    return stored_steps(project) or project.table("events")


def refresh_steps(project, *, full: bool = False) -> None:
    """Bring the stored step table up to date with the events (inside the caller's
    transaction, when there is one). ``full`` rebuilds it whatever the fingerprint says:
    for events changed in place."""
    con = project.con
    now = fingerprint(con)
    if not full and _has_tables(con) and _stored_fingerprint(con) == now:
        return
    events = project.table("events")
    codes = touchpoint_codes(events)
    if not full and _can_add_to(con, codes):
        _rebuild_changed_cases(project, codes)
    else:
        _rebuild_all(project, codes)
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [META_KEY, now.to_json()])


def _can_add_to(con, codes: TouchpointCodes) -> bool:
    """Only the touched cases need ordering again: the table exists, its dictionary
    already has every touchpoint, and the events it was built from are all still
    there (none removed or added outside loads)."""
    if not _has_tables(con):
        return False
    stored = _stored_fingerprint(con)
    if stored is None or _stored_codes(con) != codes:
        return False
    still = con.execute("SELECT count(*) FROM events WHERE load_id <= ?",
                        [stored.last_load if stored.last_load is not None else -1]).fetchone()[0]
    return still == stored.events


def _rebuild_all(project, codes: TouchpointCodes) -> None:
    con = project.con
    steps = case_steps(project.table("events"), codes)
    con.execute(f"DROP TABLE IF EXISTS {STEPS_TABLE}")
    con.execute(f"DROP TABLE IF EXISTS {CODES_TABLE}")
    project.ibis.create_table(STEPS_TABLE, steps.table)
    con.execute(f"CREATE TABLE {CODES_TABLE} (touchpoint VARCHAR, code INTEGER)")
    if codes.touchpoints:  # a project without events has an empty dictionary
        con.executemany(f"INSERT INTO {CODES_TABLE} VALUES (?, ?)",
                        [(name, i) for i, name in enumerate(codes.touchpoints)])


def _rebuild_changed_cases(project, codes: TouchpointCodes) -> None:
    con = project.con
    stored = _stored_fingerprint(con)
    last = stored.last_load if stored.last_load is not None else -1
    con.execute(f"DELETE FROM {STEPS_TABLE} WHERE case_id IN "
                "(SELECT case_id FROM events WHERE load_id > ?)", [last])
    events = project.table("events")
    changed = events.filter(events.load_id > last).select("case_id").distinct()
    touched = events.semi_join(changed, "case_id")
    project.ibis.insert(STEPS_TABLE, case_steps(touched, codes).table)

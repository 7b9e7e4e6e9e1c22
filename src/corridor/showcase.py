"""The demo project: generate the demo company's files, load them through ingest, store
the planted truths, and analyse the result.

The project is built under a temporary name and moved into place at the end, so an
interrupted build never leaves a half-built demo where a finished one is expected.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .company import configure_from_file
from .demo import DemoConfig, PlantedTruths, generate
from .errors import CorridorError, ProjectError
from .ingest import IngestResult, ProgressCallback, describe, ingest_file
from .effects import measure_completed_actions
from .store import Project


@dataclass(frozen=True)
class DemoBuild:
    project: Path
    files_dir: Path
    analysis_path: Path
    loads: tuple[IngestResult, ...]
    truths: PlantedTruths
    seconds: float

    @property
    def events(self) -> int:
        return sum(r.accepted for r in self.loads if r.kind.value == "events")

    def to_dict(self) -> dict:
        return {
            "project": str(self.project),
            "files": str(self.files_dir),
            "analysis": str(self.analysis_path),
            "seconds": round(self.seconds, 1),
            "read": sum(r.read for r in self.loads),
            "accepted": sum(r.accepted for r in self.loads),
            "rejected": sum(r.rejected for r in self.loads),
            "loads": [r.to_dict() for r in self.loads],
            "truths": self.truths.to_dict(),
        }

    def summary(self) -> str:
        lines = [f"Built the demo company in {self.seconds:.0f} s: {self.project}"]
        lines += [f"  {describe(r)}" for r in self.loads]
        lines.append(f"Analysis: {self.analysis_path}")
        return "\n".join(lines)


def build_demo(
    project: str | Path,
    config: DemoConfig = DemoConfig(),
    *,
    progress: ProgressCallback | None = None,
    say: Callable[[str], None] | None = None,
    pseudonymise: bool = True,
) -> DemoBuild:
    say = say or (lambda _message: None)
    started = time.monotonic()
    project = Path(project)
    project.parent.mkdir(parents=True, exist_ok=True)
    files_dir = project.with_name(project.stem + "-files")
    building = project.with_name(project.name + ".building")
    _remove_project(building)
    if files_dir.exists():
        shutil.rmtree(files_dir)
    files_dir.mkdir(parents=True)

    say(f"Generating {config.customers:,} customers into {files_dir} ...")
    files = generate(files_dir, config, progress)
    say("Loading the files through ingest ...")
    loads: list[IngestResult] = []
    with Project.create(building) as p:
        from .pseudonyms import turn_off, turn_on

        if pseudonymise:  # customer and case ids become pseudonyms (ADR 0011)
            turn_on(p)
        else:
            turn_off(p)
        plan = [
            ("departments", (files.departments,)),
            ("touchpoints", (files.touchpoints,)),
            ("customers", (files.customers,)),
            ("events", files.events),
            ("transactions", files.transactions),
            ("feedback", (files.feedback,)),
        ]
        total = sum(len(paths) for _, paths in plan)
        done = 0
        for kind, paths in plan:
            for path in paths:
                loads.append(ingest_file(p, kind, path))
                done += 1
                if progress is not None:
                    progress(done, total)
        configure_from_file(p, files.model)  # as `corridor configure` does
        _store_truths(p, files.truths)
        _store_incidents(p, files.incidents)
        say("Analysing ...")
        measure_completed_actions(p)  # the demo's done actions carry their effect
        analysis = _analyse(p, files.truths.end)
        p.con.execute("CHECKPOINT")
    analysis_path = project.with_name(project.stem + "-analysis.json")
    tmp = analysis_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(analysis, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    _forget_demo_key(project)
    _remove_project(project)
    os.replace(building, project)
    os.replace(tmp, analysis_path)
    return DemoBuild(project, files_dir, analysis_path, tuple(loads), files.truths,
                     time.monotonic() - started)


def _forget_demo_key(path: Path) -> None:
    """Remove the pseudonymisation key of the demo project about to be replaced (never
    the key of a project that is not a demo: a copy of it may still need it)."""
    from .pseudonyms import forget_key

    if not path.is_file():
        return
    try:
        with Project.open(path, read_only=True) as old:
            if old.con.execute("SELECT count(*) FROM planted_truths").fetchone()[0]:
                forget_key(old)
    except (CorridorError, OSError):
        pass  # in use or not a project: its key, if any, stays


def _remove_project(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        try:
            p.unlink(missing_ok=True)
        except IsADirectoryError as exc:
            raise ProjectError(f"{p} is a folder, not a project file.") from exc


def _store_truths(project: Project, truths: PlantedTruths) -> None:
    rows = [(k, json.dumps(v, ensure_ascii=False)) for k, v in truths.to_dict().items()]
    project.con.executemany("INSERT INTO planted_truths VALUES (?, ?)", rows)


def _store_incidents(project: Project, incidents) -> None:
    """The demo's incidents, each with its chain of whys (each answering the one
    before) and its actions, in the reaction loop's tables."""
    con = project.con
    why_id = action_id = 0
    for incident_id, incident in enumerate(incidents, start=1):
        con.execute(
            "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [incident_id, incident.opened_at, incident.title, incident.touchpoint,
             incident.department_id, incident.source, incident.status,
             incident.description],
        )
        ids_by_position: dict[int, int] = {}
        parent = None
        for why in sorted(incident.whys, key=lambda w: w.position):
            why_id += 1
            ids_by_position[why.position] = why_id
            con.execute(
                "INSERT INTO whys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [why_id, incident_id, parent, why.position, why.statement,
                 why.touchpoint, why.department_id, why.is_root_cause],
            )
            parent = why_id
        for action in incident.actions:
            action_id += 1
            con.execute(
                "INSERT INTO actions (action_id, incident_id, why_id, kind, title,"
                " owner_department_id, due, status, completed_at, effect)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [action_id, incident_id, ids_by_position.get(action.why_position),
                 action.kind, action.title, action.owner_department_id, action.due,
                 action.status, action.completed_at, action.effect],
            )


def _analyse(project: Project, end: dt.date) -> dict:
    """What the demo shows until the web app exists: the corridor report as JSON, with
    roles measured over the journeys that reach the company model's goal, plus the
    customer graph and the customers' value (the last quarter is the CLV holdout)."""
    from .company import company_model
    from .customers import customer_summary
    from .exceptions import detect_exceptions
    from .journeys import analyse
    from .portfolio import ValueSettings, customer_value
    from .revenue_risk import BadExperience
    from .stepstore import steps_or_events

    model = company_model(project)

    tables = {name: project.table(name) for name in
              ("events", "customers", "touchpoints", "transactions", "feedback")}
    report = analyse(
        steps_or_events(project), customers=tables["customers"], touchpoints=tables["touchpoints"],
        goal=model.purchase_goal or None,
    )
    settings = ValueSettings(
        until=end - dt.timedelta(days=92),
        goal=model.purchase_goal or None,
        bad_experience=BadExperience.of_model(model),
    )
    value = customer_value(
        events=tables["events"], transactions=tables["transactions"],
        customers=tables["customers"], feedback=tables["feedback"], settings=settings,
    )
    exceptions = detect_exceptions(tables["events"], feedback=tables["feedback"])
    return {
        **report.to_dict(),
        "customers": customer_summary(tables["customers"]).to_dict(),
        "value": value.to_dict(),
        "exceptions": exceptions.to_dict(),
    }


def later_journeys(files_dir: Path, out: Path, cases: int, years: int = 1) -> int:
    """Write ``out`` (CSV), a file of events the demo company could send next: the first
    ``cases`` journeys of its generated files (``files_dir``, as :func:`build_demo` wrote
    them, with the ids the company knows) ``years`` later under new case ids
    (``LATER-``; ``LATER<years>-`` beyond one year), for trying a load on a running demo. Returns the number of
    events written."""
    import duckdb

    events = str(Path(files_dir) / "events" / "*.parquet")
    con = duckdb.connect()
    try:
        con.execute(
            f"""COPY (SELECT customer_id, 'LATER{'' if years == 1 else int(years)}-' || case_id
                            AS case_id, touchpoint,
                            timestamp + INTERVAL {365 * int(years)} DAY AS timestamp, channel, outcome,
                            wait_seconds, duration_seconds, cost
                     FROM read_parquet(?) WHERE case_id IN (
                         SELECT DISTINCT case_id FROM read_parquet(?)
                         ORDER BY case_id LIMIT ?))
               TO '""" + str(out).replace("'", "''") + "' (HEADER)",
            [events, events, int(cases)])
        return con.execute("SELECT count(*) FROM read_csv(?)", [str(out)]).fetchone()[0]
    finally:
        con.close()

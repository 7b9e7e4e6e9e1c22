"""The `corridor` command: parses arguments, calls the library, renders the result.

Every failure is one sentence on stderr and a non-zero exit; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import CorridorError, InputError, printable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="corridor: customer culture made measurable.",
)

KINDS = ("customers", "departments", "touchpoints", "events", "transactions", "feedback")


def _err(message: str) -> None:
    sys.stderr.write(printable(message.rstrip()) + "\n")  # file content cannot drive the terminal


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


class _Progress:
    """A Rich bar that appears only once work has lasted a second, on a terminal."""

    def __init__(self, label: str, quiet: bool):
        self.label = label
        self.enabled = not quiet and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

            self.bar = Progress(
                "[progress.description]{task.description}", BarColumn(),
                TaskProgressColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total or None)
        self.bar.update(self.task, completed=done, total=total or None)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.callback(invoke_without_command=True)
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback on errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    """corridor: customer culture made measurable."""
    if version:
        typer.echo(f"corridor {__version__}")
        raise typer.Exit()


@app.command()
def init(
    project: Path = typer.Argument(..., help="Path of the new project file."),
    no_pseudonymise: bool = typer.Option(
        False, "--no-pseudonymise",
        help="Keep customer and case ids as they come instead of keyed pseudonyms."),
) -> None:
    """Create a new project file with the canonical tables, a pseudonymisation key kept
    outside it, and an admin account whose one-time password is printed once."""
    from .accounts import Role, add_user
    from .pseudonyms import turn_off, turn_on
    from .store import Project

    p = Project.create(project)
    key = None
    try:
        if no_pseudonymise:
            turn_off(p)
        else:
            key = turn_on(p)
        admin = add_user(p, "admin", Role.ADMIN, actor="init")
        version = p.schema_version
    except BaseException:
        p.close()
        # a new project appears whole or not at all
        for made in (project, Path(f"{project}.wal"), key):
            if made is not None:
                made.unlink(missing_ok=True)
        raise
    p.close()
    typer.echo(f"Created project {project} (schema {version}).")
    if key is None:
        typer.echo("Customer and case ids will be kept as they come (not pseudonymised).")
    else:
        typer.echo(f"Customer and case ids will be pseudonymised with the key in {key}."
                   " Keep a copy of it somewhere safe: without it new loads cannot join"
                   " customers loaded before (analyses and reading need no key).")
    typer.echo(f"Log in as admin with the one-time password {admin.password}"
               " (shown only now).")


@app.command()
def ingest(
    project: Path = typer.Argument(..., help="The project file."),
    kind: str = typer.Argument(..., help=f"What the files hold: {', '.join(KINDS)}."),
    files: list[Path] = typer.Argument(..., help="CSV, Parquet, JSON Lines or XES files."),
    map_file: Optional[Path] = typer.Option(
        None, "--map", help="TOML mapping file: column names, formats, time zone."
    ),
    max_reject_rate: float = typer.Option(
        1.0, "--max-reject-rate", help="Refuse a file whose share of bad rows is above this."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Replace the rows of an earlier load of the same file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Load files into a project; bad rows go to the rejects table, nothing is lost."""
    from .ingest import describe, ingest_file
    from .mapping import Mapping
    from .serving import find as find_server
    from .store import Project

    if kind not in KINDS:
        raise InputError(f"Unknown kind '{kind}'; expected one of {', '.join(KINDS)}.")
    mapping = Mapping.from_toml(map_file) if map_file else None
    server = find_server(project)
    if server is not None:  # the server is the project's one writer: hand it the files
        results = _ingest_through(server, kind, files, map_file, max_reject_rate, as_json,
                                  quiet, replace)
        if as_json:
            _print_ingest_json(results)
        return
    results = []
    with Project.open(project) as p:
        for path in files:
            bar = _Progress(f"Loading {path.name}", quiet)
            try:
                result = ingest_file(
                    p, kind, path, mapping=mapping, max_reject_rate=max_reject_rate,
                    progress=bar, replace=replace,
                )
            finally:
                bar.close()
            results.append(result)
            if not as_json:
                typer.echo(printable(describe(result)))
    if as_json:
        _print_ingest_json(results)


def _print_ingest_json(results) -> None:
    if len(results) == 1:
        _print_json(results[0].to_dict())
    else:
        _print_json({
            "read": sum(r.read for r in results),
            "accepted": sum(r.accepted for r in results),
            "rejected": sum(r.rejected for r in results),
            "files": [r.to_dict() for r in results],
        })


def _ingest_through(server, kind: str, files: list[Path], map_file: Optional[Path],
                    max_reject_rate: float, as_json: bool, quiet: bool,
                    replace: bool = False) -> list:
    """Load ``files`` through the server running on the project, one at a time."""
    from .ingest import IngestResult, describe
    from .schema import Kind
    from .serving import upload

    if not quiet:
        typer.echo(f"The project is being served at {server.url}; loading through the"
                   " server (pages stay up).", err=True)
    mapping = map_file.read_text("utf-8") if map_file else None
    results = []
    for path in files:
        answer = upload(server, kind, path, mapping=mapping, max_reject_rate=max_reject_rate,
                        replace=replace)
        answer["kind"] = Kind(answer["kind"])
        result = IngestResult(**answer)
        results.append(result)
        if not as_json:
            typer.echo(printable(describe(result)))
    return results


@app.command()
def info(
    project: Path = typer.Argument(..., help="The project file."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a project's schema version, row counts, loads and company model."""
    from .company import company_model
    from .store import Project

    with Project.open(project, read_only=True) as p:
        model = company_model(p)
        counts = p.counts()
        loads = p.con.execute(
            "SELECT load_id, kind, source, rows_read, rows_accepted, rows_rejected"
            " FROM loads ORDER BY load_id"
        ).fetchall()
        version = p.schema_version
    if as_json:
        _print_json({
            "schema_version": version,
            "tables": counts,
            "loads": [dict(zip(("load_id", "kind", "source", "read", "accepted",
                                "rejected"), row)) for row in loads],
            "model": model.to_dict(),
        })
        return
    typer.echo(f"{project}: schema {version}")
    for name, n in counts.items():
        typer.echo(f"  {name:<14}{n:>12,}")
    typer.echo("Company model:" if model.declared else "Company model: none (corridor configure sets one)")
    _echo_model(model)


@app.command()
def configure(
    project: Path = typer.Argument(..., help="The project file."),
    model_file: Path = typer.Argument(..., help="The company model (TOML): journey types, service hours, wait limits, bad experience, labels, currency."),
    as_json: bool = typer.Option(False, "--json", help="Print the model as JSON."),
) -> None:
    """Set the company model: what the company's journeys mean (replaces any earlier one)."""
    from . import audit
    from .company import configure_from_file
    from .store import Project

    with Project.open(project) as p:
        model = configure_from_file(p, model_file, actor=audit.cli_actor())
    if as_json:
        _print_json(model.to_dict())
        return
    typer.echo(f"{project}: company model set from {model_file}")
    _echo_model(model)


def _echo_model(model) -> None:
    for j in model.journeys:
        how = ", ".join([*j.start, *(f"stage {s}" for s in j.start_stages)])
        goal = " | ".join(j.goal) if j.goal else "last contact ok"
        typer.echo(f"  journey {j.name} ({j.kind.value}): starts at {how}; goal {goal};"
                   f" KPIs {', '.join(k.value for k in j.kpis)}")
    for h in model.service_hours:
        typer.echo(f"  {h.channel} open {h} ({model.timezone})")
    if model.declared:
        default = model.waits.default
        limits = [f"{tp} {_duration(s)}" for tp, s in model.waits.per_touchpoint]
        typer.echo("  long wait: over " + ("no limit" if default is None else _duration(default))
                   + (f" ({', '.join(limits)})" if limits else ""))
        labelled = sum(len(codes) for codes in model.labels.names.values())
        typer.echo(f"  labels: {labelled:,}; currency: {model.currency or 'none'}")
    for line in model.defaults():
        typer.echo(f"  default: {line}")


@app.command()
def rejects(
    project: Path = typer.Argument(..., help="The project file."),
    limit: int = typer.Option(20, "--limit", help="Show at most this many rows."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List rows that did not load: file, line, column, reason and raw text."""
    from .store import Project

    with Project.open(project, read_only=True) as p:
        rows = p.con.execute(
            "SELECT source, line, column_name, reason, raw FROM rejects"
            " ORDER BY load_id, line LIMIT ?", [limit],
        ).fetchall()
    keys = ("source", "line", "column", "reason", "raw")
    if as_json:
        _print_json([dict(zip(keys, r)) for r in rows])
        return
    for source, line, column, reason, _raw in rows:
        where = f"{source}:{line}" + (f" ({column})" if column else "")
        typer.echo(printable(f"{where}: {reason}"))


@app.command()
def demo(
    customers: Optional[int] = typer.Option(None, "--customers", help="Number of customers."),
    seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same company."),
    project: Path = typer.Option(Path("demo/company.duckdb"), "--project", help="Where to write the demo project."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Build and analyse, then stop."),
    as_json: bool = typer.Option(False, "--json", help="Print the loads and planted truths as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Generate the demo company into a project, analyse it, and show where the results are."""
    from .demo import DemoConfig
    from .pseudonyms import status
    from .showcase import build_demo
    from .store import Project

    config = DemoConfig(seed=seed) if customers is None else DemoConfig(customers=customers, seed=seed)
    say = (lambda _m: None) if (quiet or as_json) else (lambda m: typer.echo(m, err=True))
    built = build_demo(project, config, progress=_Progress("Building the demo", quiet or as_json), say=say)
    if as_json:
        _print_json(built.to_dict())
        return
    typer.echo(built.summary())
    with Project.open(built.project, read_only=True) as p:
        key = status(p).key_path
    if key is not None:
        typer.echo(f"Customer and case ids are pseudonymised with the key in {key}.")
    typer.echo("Demo logins (one per role; shown only now):")
    accounts = demo_accounts(built.project)
    width = max(len(a.user.user_name) for a in accounts)
    for account in accounts:
        user = account.user
        department = f" of {user.department_id}" if user.department_id else ""
        typer.echo(f"  {user.user_name:<{width}}  {account.password}  ({user.role.value}{department})")
    if not no_serve:
        _serve(built.project, "127.0.0.1", 8000)


def demo_accounts(project: Path) -> list:
    """One account per role in a demo project, each with a fresh one-time password
    (an account that exists from an earlier run gets a new password)."""
    from .accounts import NewUser, Role, add_user, generate_password, get_user, set_password
    from .store import Project

    made = []
    with Project.open(project) as p:
        department = p.con.execute(
            "SELECT department_id FROM touchpoints WHERE department_id IS NOT NULL"
            " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
        for role in Role:
            name = f"demo-{role.value.replace('_', '-')}"
            dept = department[0] if role is Role.DEPARTMENT_HEAD and department else None
            existing = get_user(p, name)
            if existing is None:
                made.append(add_user(p, name, role, department_id=dept, actor="demo"))
            else:
                password = generate_password()
                set_password(p, name, password)
                made.append(NewUser(existing, password, True))
    return made


@app.command()
def serve(
    project: Annotated[Path, typer.Argument(help="The project file.")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    secure_cookies: Annotated[bool, typer.Option(
        "--secure-cookies", help="Mark the session cookie Secure (behind a TLS proxy).")] = False,
    trusted_proxy: Annotated[list[str], typer.Option(
        "--trusted-proxy", help="Address of a reverse proxy whose X-Forwarded-For and"
        " X-Forwarded-Proto headers are believed (repeatable; default: none).")] = [],
) -> None:
    """Serve the web app on a project; people log in with its accounts (corridor user)."""
    _serve(project, host, port, secure_cookies=secure_cookies,
           trusted_proxies=tuple(trusted_proxy))


def _trusted_proxies(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """The proxy addresses (or networks), each checked to be one and written plainly."""
    import ipaddress

    checked = []
    for address in addresses:
        try:
            given = address.strip()
            checked.append(str(ipaddress.ip_network(given) if "/" in given
                               else ipaddress.ip_address(given)))
        except ValueError:
            raise InputError(f"--trusted-proxy {address!r} is not an IP address or network"
                             " (e.g. 127.0.0.1 or 10.0.0.0/8).") from None
    return tuple(checked)


def _serve(project: Path, host: str, port: int, secure_cookies: bool = False,
           trusted_proxies: tuple[str, ...] = ()) -> None:
    """Start the web app. The session secret comes from CORRIDOR_SECRET (at least 32
    characters, not a default), else a fresh random one (sessions then end with the
    process). The client's address (for sign-in throttling and the audit log) is the
    connection's own unless it comes from one of ``trusted_proxies``: only then are
    X-Forwarded-For and X-Forwarded-Proto believed."""
    import os
    import secrets
    import signal

    import uvicorn

    from .accounts import list_users
    from .serving import announce, clear_uploads, find, withdraw
    from .store import Project
    from .web import create_app

    given = os.environ.get("CORRIDOR_SECRET")
    if given is not None and not given.strip():
        raise InputError("CORRIDOR_SECRET is empty; set it to a long random string or"
                         " leave it unset.")
    secret = given if given is not None else secrets.token_urlsafe(48)
    trusted_proxies = _trusted_proxies(trusted_proxies)
    with Project.open(project, read_only=True) as p:
        active = [u for u in list_users(p) if not u.disabled]
    if not active:
        raise InputError(f"{project} has no active account; add one with"
                         f" 'corridor user add {project} NAME --role admin'.")
    local = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if find(project) is None:  # no server loads into it: what is there, a killed one left
        clear_uploads(project)
    serving = announce(project, f"http://{local}:{port}")
    # uvicorn stops on SIGTERM and then raises it again; ending by SystemExit instead
    # lets the serving file go with the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        web_app = create_app(project, secret=secret, secure_cookies=secure_cookies,
                             run_token=serving.token)
        typer.echo(f"corridor is at http://{host}:{port}/ — log in with an account of the"
                   f" project ({len(active)} active).")
        # uvicorn believes forwarded headers from 127.0.0.1 unless told otherwise, which
        # would let any local client choose the address it is throttled and audited by
        uvicorn.run(web_app, host=host, port=port, log_level="warning",
                    proxy_headers=bool(trusted_proxies),
                    forwarded_allow_ips=list(trusted_proxies) or None)
    finally:
        withdraw(project, serving)


# -- analytics ------------------------------------------------------------------------

ProjectArg = Annotated[
    Optional[Path],
    typer.Argument(help="The project file (leave out with --engine spark)."),
]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="Only events at or after this date or time (UTC).")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="Only events up to this date (inclusive) or before this time.")]
SegmentOpt = Annotated[list[str], typer.Option("--segment", help="Only customers of this segment (repeatable).")]
LevelOpt = Annotated[list[str], typer.Option("--level", help="Only customers of this level (repeatable).")]
ChannelOpt = Annotated[list[str], typer.Option("--channel", help="Only events on this channel (repeatable).")]
DepartmentOpt = Annotated[list[str], typer.Option("--department", help="Only events of this department (repeatable).")]
OutcomeOpt = Annotated[list[str], typer.Option("--outcome", help="Only events with this outcome (repeatable).")]
TouchpointOpt = Annotated[list[str], typer.Option("--touchpoint", help="Only these touchpoints (repeatable).")]
LifecycleOpt = Annotated[list[str], typer.Option("--lifecycle", help="Only events of this XES lifecycle state, e.g. complete (repeatable).")]
EngineOpt = Annotated[str, typer.Option("--engine", help="duckdb (the project file) or spark.")]
MasterOpt = Annotated[Optional[str], typer.Option("--master", help="Spark master URL (default local[2]).")]
EventsOpt = Annotated[Optional[str], typer.Option("--events", help="With --engine spark: events as a Parquet path or Spark table.")]
CustomersOpt = Annotated[Optional[str], typer.Option("--customers", help="With --engine spark: customers as a Parquet path or Spark table.")]
TouchpointsOpt = Annotated[Optional[str], typer.Option("--touchpoints", help="With --engine spark: touchpoints as a Parquet path or Spark table.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _when(value: str | None, option: str):
    from datetime import date, datetime

    if value is None:
        return None
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            return parse(value)
        except ValueError:
            continue
    raise InputError(f"{option} {value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM).")


def _day(value: str | None, option: str):
    from datetime import date

    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InputError(f"{option} {value!r} must be a day (YYYY-MM-DD).")


def _filter(start, end, segment, level, channel, department, outcome, touchpoint,
            lifecycle=()):
    from .filters import EventFilter

    return EventFilter(
        start=_when(start, "--from"), end=_when(end, "--to"), segments=tuple(segment),
        levels=tuple(level), channels=tuple(channel), departments=tuple(department),
        outcomes=tuple(outcome), touchpoints=tuple(touchpoint), lifecycles=tuple(lifecycle),
    )


@contextmanager
def _tables(project, engine, master, events, customers, touchpoints):
    """Open the tables an analysis reads: the project file, or data where it lies on Spark."""
    from . import store

    if engine == "duckdb":
        if project is None:
            raise InputError("Give a PROJECT file, or --engine spark with --events.")
        if events or customers or touchpoints or master:
            raise InputError("--events, --customers, --touchpoints and --master go with --engine spark.")
        with store.Project.open(project, read_only=True) as p:
            yield store.project_tables(p)
    elif engine == "spark":
        if events is None:
            raise InputError("--engine spark needs --events (a Parquet path or a Spark table).")
        session = store.spark_session(master or "local[2]")
        try:
            yield store.spark_tables(session, events, customers=customers, touchpoints=touchpoints)
        finally:
            session.stop()
    else:
        raise InputError(f"Unknown engine {engine!r}; expected duckdb or spark.")


def _filtered(tables, flt):
    from .filters import apply

    return apply(tables.events, flt, customers=tables.customers, touchpoints=tables.touchpoints)


@app.command()
def journeys(
    project: ProjectArg = None,
    start: FromOpt = None, end: ToOpt = None, segment: SegmentOpt = [], level: LevelOpt = [],
    channel: ChannelOpt = [], department: DepartmentOpt = [], outcome: OutcomeOpt = [],
    lifecycle: LifecycleOpt = [],
    touchpoint: TouchpointOpt = [],
    goal: Annotated[Optional[str], typer.Option("--goal", help="Touchpoint that ends a successful journey; corridor roles are measured over journeys that reach it. Default: the company model's purchase goal.")] = None,
    top: Annotated[int, typer.Option("--top", help="List this many variants.")] = 20,
    coverage: Annotated[Optional[float], typer.Option("--coverage", help="Simplify the map to the edges carrying this share of traffic (0-1).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Coverage a touchpoint needs to be basic.")] = 0.8,
    engine: EngineOpt = "duckdb", master: MasterOpt = None, events: EventsOpt = None,
    customers: CustomersOpt = None, touchpoints: TouchpointsOpt = None, as_json: JsonOpt = False,
) -> None:
    """Variants, the directly-follows graph, case durations and the corridor roles."""
    from .covers import covers
    from .journeys import analyse

    flt = _filter(start, end, segment, level, channel, department, outcome, touchpoint,
                  lifecycle)
    goal = goal or _model(project, engine).purchase_goal or None
    with _tables(project, engine, master, events, customers, touchpoints) as t:
        report = analyse(t.journeys_of(flt), customers=t.customers, touchpoints=t.touchpoints,
                         top=top, coverage=coverage, threshold=threshold, goal=goal)
        scope = covers(_filtered(t, flt), flt)
    if as_json:
        _print_json({"covers": scope.to_dict(), **report.to_dict()})
        return
    data = report.to_dict()
    typer.echo(f"Covers: {scope}")
    typer.echo(f"{report.cases:,} cases, {report.events:,} events, {report.distinct_variants:,} variants")
    corridor = data["corridor"]
    if corridor["basic"]:
        typer.echo("Basic corridor: " + " → ".join(corridor["basic"]))
    for group in corridor["alternatives"]:
        typer.echo("Alternative doors: " + " | ".join(group))
    if corridor["optional"]:
        typer.echo("Optional: " + ", ".join(corridor["optional"]))
    typer.echo("Top variants:")
    for v in data["variants"][:10]:
        typer.echo(f"  {v['cases']:>9,}  {' → '.join(v['path'])}")
    typer.echo("Busiest transitions:")
    for e in data["dfg"][:10]:
        typer.echo(f"  {e['count']:>9,}  {e['source']} → {e['target']}  (median {_duration(e['median_seconds'])})")


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@app.command()
def funnel(
    project: ProjectArg = None,
    steps: Annotated[list[str], typer.Option("--step", help="A funnel step, in order (repeat for each step).")] = [],
    within: Annotated[Optional[float], typer.Option("--within-days", help="Conversion window from the first step, in days.")] = None,
    start: FromOpt = None, end: ToOpt = None, segment: SegmentOpt = [], level: LevelOpt = [],
    channel: ChannelOpt = [], department: DepartmentOpt = [], outcome: OutcomeOpt = [],
    lifecycle: LifecycleOpt = [],
    engine: EngineOpt = "duckdb", master: MasterOpt = None, events: EventsOpt = None,
    customers: CustomersOpt = None, touchpoints: TouchpointsOpt = None, as_json: JsonOpt = False,
) -> None:
    """Conversion through any ordered steps: per-step cases, drop-off, time to convert."""
    from datetime import timedelta

    from .covers import covers
    from .funnel import funnel as run_funnel

    flt = _filter(start, end, segment, level, channel, department, outcome, (), lifecycle)
    with _tables(project, engine, master, events, customers, touchpoints) as t:
        result = run_funnel(t.journeys_of(flt), steps,
                            within=None if within is None else timedelta(days=within),
                            known=_event_touchpoints(t))
        scope = covers(_filtered(t, flt), flt)
    if as_json:
        _print_json({"covers": scope.to_dict(), **result.to_dict()})
        return
    typer.echo(f"Covers: {scope}")
    for step in result.steps:
        rate = "" if step.conversion_from_previous is None else f"  {step.conversion_from_previous:.1%} of previous"
        typer.echo(f"{step.position}. {step.touchpoint}: {step.cases:,} cases{rate}, {step.drop_off:,} dropped")


def _event_touchpoints(tables) -> set[str]:
    """The touchpoints any event has, before filters: the names a step may take."""
    events = tables.events
    column = events.select("touchpoint").distinct().to_pyarrow().column(0)
    return {name for name in column.to_pylist() if name is not None}


@app.command()
def flow(
    project: ProjectArg = None,
    goal: Annotated[Optional[str], typer.Option("--goal", help="Touchpoint that ends a successful journey (for drop-off points); default: the journey type's goal.")] = None,
    journey: Annotated[Optional[str], typer.Option("--journey", help="Only cases of this journey type of the company model.")] = None,
    start: FromOpt = None, end: ToOpt = None, segment: SegmentOpt = [], level: LevelOpt = [],
    channel: ChannelOpt = [], department: DepartmentOpt = [], outcome: OutcomeOpt = [],
    lifecycle: LifecycleOpt = [],
    touchpoint: TouchpointOpt = [],
    engine: EngineOpt = "duckdb", master: MasterOpt = None, events: EventsOpt = None,
    customers: CustomersOpt = None, touchpoints: TouchpointsOpt = None, as_json: JsonOpt = False,
) -> None:
    """Does the corridor flow: each journey type's KPIs, drop-off points, loops,
    bottlenecks and hand-offs."""
    from .flowreport import flow_report

    flt = _filter(start, end, segment, level, channel, department, outcome, touchpoint,
                  lifecycle)
    model, label = _model(project, engine), _labeller(project, engine)
    with _tables(project, engine, master, events, customers, touchpoints) as t:
        report = flow_report(_filtered(t, flt), model, touchpoints=t.touchpoints,
                             customers=t.customers, journey=journey, goal=goal, filters=flt,
                             all_events=None if flt.is_empty else t.events)
    if as_json:
        _print_json(report.to_dict())
        return
    typer.echo(f"Covers: {report.covers}")
    if report.journey and report.journey != report.covers.journey:
        typer.echo(f"Drop-offs: cases of journey type {report.journey!r}")
    if report.kpis is not None:
        for k in report.kpis.journeys:
            if k.conversion is not None:
                typer.echo(f"  {k.journey}: {k.cases:,} cases, reached {' | '.join(k.goal)}:"
                           f" {k.reached_goal:,} ({_pct(k.conversion)})")
            else:
                typer.echo(f"  {k.journey}: {k.cases:,} cases, resolved {k.resolved:,} ({_pct(k.resolution)}),"
                           f" at the first contact {k.resolved_at_first_contact:,}"
                           f" ({_pct(k.first_contact_resolution)})")
        if report.kpis.unclassified_cases:
            typer.echo(f"  no journey type: {report.kpis.unclassified_cases:,} cases")
    d = report.dropoffs
    if d is not None:
        typer.echo(f"Reached {' | '.join(report.goal)}: {d.reached_goal:,} of {d.cases:,} cases; dropped {d.dropped:,}")
        for x in d.exit_points[:5]:
            typer.echo(f"  ends at {_named(x.touchpoint, label.tp(x.touchpoint))}: {x.cases:,} ({x.share:.1%})")
    typer.echo("Bottlenecks (waiting × volume):")
    if not report.bottlenecks.waits_recorded:
        typer.echo("  no waits recorded")
    for b in report.bottlenecks.overall[:5]:
        typer.echo(f"  {_named(b.touchpoint, label.tp(b.touchpoint))}: {_duration(b.total_wait_seconds)}"
                   f" in all, trend {b.trend.value}")
    typer.echo("Hand-offs between departments:")
    for h in report.handoffs.pairs[:5]:
        typer.echo(f"  {label.dept(h.from_department)} → {label.dept(h.to_department)}: {h.count:,}")
    typer.echo(f"Loops: {report.loops.cases_with_repeats:,} cases repeat a touchpoint,"
               f" {report.loops.cases_with_ping_pong:,} ping-pong")
    for line in report.defaults:
        typer.echo(f"Default: {line}")


def _labeller(project, engine):
    """Names for the text output (English); codes alone on Spark, which has no project."""
    from .company import Labeller, Labels, project_labels
    from .store import Project

    if engine != "duckdb" or project is None:
        return Labeller(Labels())
    with Project.open(project, read_only=True) as p:
        return Labeller(project_labels(p))


def _named(code, name: str) -> str:
    """``name (code)`` where a name is known, else the code."""
    return str(code) if name == str(code) else f"{name} ({code})"


def _model(project, engine):
    """The company model of the project (the defaults on Spark, which has no project)."""
    from .company import DEFAULT_MODEL, company_model
    from .store import Project

    if engine != "duckdb" or project is None:
        return DEFAULT_MODEL
    with Project.open(project, read_only=True) as p:
        return company_model(p)


@app.command()
def access(
    project: ProjectArg = None,
    by: Annotated[list[str], typer.Option("--by", help="Group by channel, touchpoint, department or period (repeatable).")] = [],
    period: Annotated[str, typer.Option("--period", help="week or month, for --by period.")] = "month",
    start: FromOpt = None, end: ToOpt = None, segment: SegmentOpt = [], level: LevelOpt = [],
    channel: ChannelOpt = [], department: DepartmentOpt = [], outcome: OutcomeOpt = [],
    lifecycle: LifecycleOpt = [],
    touchpoint: TouchpointOpt = [],
    journey: Annotated[Optional[str], typer.Option("--journey", help="Only cases of this journey type of the company model.")] = None,
    engine: EngineOpt = "duckdb", master: MasterOpt = None, events: EventsOpt = None,
    customers: CustomersOpt = None, touchpoints: TouchpointsOpt = None, as_json: JsonOpt = False,
) -> None:
    """How accessible we are: failures, attempts, first response, service hours,
    channel switching and first-contact resolution."""
    from .access import Dimension, accessibility
    from .flow import Period
    from .covers import covers
    from .journey_types import cases_of

    try:
        dims = tuple(Dimension(b) for b in (by or ["channel"]))
        chosen_period = Period(period)
    except ValueError as exc:
        raise InputError(f"{exc}; --by takes channel, touchpoint, department or period and --period week or month.") from exc
    from .company import channel_hours

    flt = _filter(start, end, segment, level, channel, department, outcome, touchpoint,
                  lifecycle)
    model = _model(project, engine)
    kind = None if journey is None else model.journey(journey)
    with _tables(project, engine, master, events, customers, touchpoints) as t:
        chosen = _filtered(t, flt)
        if kind is not None:
            chosen = cases_of(chosen, model, kind, t.touchpoints, typed_from=t.events)
        result = accessibility(chosen, by=dims, period=chosen_period, touchpoints=t.touchpoints,
                               channel_hours=channel_hours(model))
        scope = covers(chosen, flt, journey)
    if as_json:
        _print_json({"covers": scope.to_dict(), **result.to_dict()})
        return
    typer.echo(f"Covers: {scope}")
    typer.echo(f"{'group':<36}{'contacts':>10}{'failed':>8}{'switch':>8}{'FCR':>8}{'outside':>9}")
    for g in result.groups:
        name = " / ".join(str(v) for v in (g.channel, g.touchpoint, g.department_id, g.period_start)
                          if v is not None) or "(no channel recorded)"
        typer.echo(f"{name[:35]:<36}{g.contacts:>10,}{_pct(g.failure_rate):>8}{_pct(g.switch_rate):>8}"
                   f"{_pct(g.first_contact_resolution):>8}{_pct(g.outside_hours_share):>9}")


# -- customers and value ---------------------------------------------------------------

ProjectFileArg = Annotated[Path, typer.Argument(help="The project file.")]


@app.command()
def customers(project: ProjectFileArg, as_json: JsonOpt = False) -> None:
    """Who our customers are: levels, direct and end customers, who stands behind each
    intermediary, and which departments are internal customers of which."""
    from . import store
    from .customers import customer_summary, internal_customers

    with store.Project.open(project, read_only=True) as p:
        summary = customer_summary(p.table("customers"))
        internal = internal_customers(p.table("events"), touchpoints=p.table("touchpoints"))
    if as_json:
        _print_json({"customers": summary.to_dict(), "internal_customers": internal.to_dict()})
        return
    typer.echo(f"{summary.customers:,} customers: {summary.direct_customers:,} direct,"
               f" {summary.end_customers:,} served through intermediaries")
    for level in summary.levels:
        typer.echo(f"  {level.level:<14}{level.customers:>10,}")
    label = _labeller(project, "duckdb")
    for item in summary.intermediaries[:5]:
        who = _named(item.intermediary_id, label.customer(item.intermediary_id))
        typer.echo(f"  behind {who}: {item.end_customers:,} end customers")
    typer.echo("Internal customers (supplier → customer department):")
    for link in internal.links[:8]:
        typer.echo(f"  {label.dept(link.supplier)} → {label.dept(link.customer)}: {link.handoffs:,} hand-offs")


@app.command()
def value(
    project: ProjectFileArg,
    until: Annotated[Optional[str], typer.Option("--until", help="Last day of the CLV calibration period (YYYY-MM-DD); later purchases are the holdout. Default: the last quarter of purchases is the holdout; 'none': fit on every purchase.")] = None,
    goal: Annotated[Optional[str], typer.Option("--goal", help="Touchpoint that ends a successful journey; segments' fit is measured against its corridor. Default: the company model's purchase goal.")] = None,
    periods: Annotated[int, typer.Option("--periods", help="CLV horizon in periods.")] = 12,
    period_days: Annotated[float, typer.Option("--period-days", help="Days per CLV period.")] = 30.0,
    discount: Annotated[float, typer.Option("--discount", help="Discount rate per period.")] = 0.01,
    margin_rate: Annotated[Optional[float], typer.Option("--margin-rate", help="Margin share of amount for transactions without a margin.")] = None,
    switching: Annotated[float, typer.Option("--switching", help="Probability that a customer considers switching after a bad experience.")] = 1 / 3,
    unit_days: Annotated[float, typer.Option("--unit-days", help="Time unit of the BG/NBD purchase model in days (7: weeks); its r and alpha are per unit.")] = 7.0,
    as_json: JsonOpt = False,
) -> None:
    """What customers are worth and cost: CLV, RFM, profitability, target segments,
    service tiers, what does not pay back, and the revenue at risk. Parts the project's
    tables cannot give are listed with the reason."""
    from . import store
    from .lifetime import Horizon
    from .company import company_model
    from .portfolio import AUTO, project_value

    cut_off = AUTO if until is None else None if until.lower() == "none" else _day(until, "--until")
    chosen = {"goal": goal} if goal else {}
    with store.Project.open(project, read_only=True) as p:
        report, cut_off = project_value(
            p, until=cut_off, horizon=Horizon(periods, period_days, discount),
            margin_rate=margin_rate, switching_probability=switching, unit_days=unit_days,
            **chosen,
        )
        currency = company_model(p).currency
    if as_json:
        _print_json({**report.to_dict(), "until": None if cut_off is None else cut_off.isoformat(),
                     "currency": currency})
        return
    typer.echo("Holdout: " + ("none (every purchase fits the model)" if cut_off is None
                              else f"purchases after {cut_off} check the forecast"))
    if currency:
        typer.echo(f"Amounts in {currency}")

    def amount(figure: float | None) -> str:
        return "no data" if figure is None else f"{figure:,.0f}"

    life = report.lifetime
    if life is not None:
        fit, spend = life.purchases.params, life.spend
        typer.echo(f"CLV: {life.customers:,} buying customers, {life.total:,.0f} in all over"
                   f" {periods} periods of {period_days:g} days")
        typer.echo(f"  BG/NBD per {unit_days:g} days: r {fit.r:.3f}, alpha {fit.alpha:.3f},"
                   f" a {fit.a:.3f}, b {fit.b:.3f}")
        left_out = spend.excluded_non_positive_spend
        typer.echo(f"  Gamma-Gamma on {spend.customers:,} repeat buyers"
                   + (f"; {left_out:,} left out for a mean repeat spend of 0 or less"
                      if left_out else ""))
        if life.holdout is not None:
            typer.echo(f"  holdout: {life.holdout.predicted_purchases:,.0f} purchases forecast,"
                       f" {life.holdout.actual_purchases:,} made")
    if report.rfm is not None:
        typer.echo(f"RFM: {report.rfm.customers:,} customers; " + ", ".join(
            f"{seg.segment} {seg.customers:,}" for seg in report.rfm.segments if seg.customers))
    if report.profitability is not None:
        money = report.profitability.total
        if money.profit is not None:
            typer.echo(f"Profit: margin {money.margin:,.0f} − cost to serve"
                       f" {money.cost_to_serve:,.0f} = {money.profit:,.0f};"
                       f" {money.unprofitable:,} of {money.customers:,} customers do not pay back")
        else:
            typer.echo(f"Profit: revenue {money.revenue:,.0f} from {money.customers:,} customers;"
                       f" margin {amount(money.margin)}; cost to serve"
                       f" {amount(money.cost_to_serve)}; profit no data")
    if report.targets is not None:
        typer.echo("Target segments:")
        for seg in report.targets.segments:
            typer.echo(f"  {seg.rank}. {seg.segment}: score {seg.score:.2f}")
    if report.tiers is not None:
        typer.echo("Service tiers:")
        for tier in report.tiers.summary:
            typer.echo(f"  {tier.tier:<14}{tier.customers:>9,} customers")
    risk = report.revenue_at_risk
    if risk is not None:
        typer.echo(f"Revenue at risk: {risk.revenue_at_risk:,.0f} ({risk.customers_affected:,}"
                   " customers with a bad experience)")
        for g in risk.by_journey:
            where = f"in {g.key} journeys" if g.key else "in scores or cases of no journey type"
            typer.echo(f"  {where}: {g.revenue_at_risk:,.0f} ({g.customers:,} customers)")
    if report.not_computed:
        typer.echo("Not computed:")
        for gap in report.not_computed:
            typer.echo(f"  {gap.part.value}: {gap.reason}")


# -- the reaction loop -----------------------------------------------------------------


@app.command()
def exceptions(
    project: ProjectFileArg,
    touchpoint: Annotated[list[str], typer.Option("--touchpoint", help="Only chart these touchpoints (repeatable).")] = [],
    as_json: JsonOpt = False,
) -> None:
    """Days on which a touchpoint's failure rate, waiting, volume or satisfaction broke
    from its weekly pattern (control charts on seasonal residuals)."""
    from . import store
    from .exceptions import detect_exceptions

    with store.Project.open(project, read_only=True) as p:
        report = detect_exceptions(p.table("events"), feedback=p.table("feedback"),
                                   touchpoints=tuple(touchpoint))
    if as_json:
        _print_json(report.to_dict())
        return
    typer.echo(f"{len(report.alarms):,} alarms on {report.touchpoint_days_monitored:,}"
               " touchpoint-days charted")
    for alarm in report.alarms:
        typer.echo(f"  {alarm.describe()}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


from .cli_experience import register as _register_experience  # noqa: E402
from .cli_incidents import register as _register_incidents  # noqa: E402
from .cli_customer import register as _register_customer  # noqa: E402
from .cli_users import register as _register_users  # noqa: E402
from .cli_tokens import register as _register_tokens  # noqa: E402
from .cli_maturity import register as _register_maturity  # noqa: E402

_register_experience(app)
_register_incidents(app)
_register_users(app)
_register_customer(app)
_register_tokens(app)
_register_maturity(app)


# -- the report ------------------------------------------------------------------------


@app.command()
def report(
    project: Annotated[Path, typer.Argument(help="The project file.")],
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    lang: Annotated[str, typer.Option("--lang", help="en, ar or ru.")] = "en",
    start: FromOpt = None,
    end: ToOpt = None,
    segment: SegmentOpt = [],
    level: LevelOpt = [],
    channel: ChannelOpt = [],
    department: DepartmentOpt = [],
    role: Annotated[str, typer.Option(
        "--role", help="Write what this role may see: staff (no customer ids or quotes),"
        " department_head, manager, analyst or admin.")] = "staff",
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Write one self-contained HTML file with every view of the web app a role may see."""
    from starlette.datastructures import QueryParams

    from .report import build_report
    from .web_filters import PageFilters

    pairs = [("from", start), ("to", end)] + [
        (name, v) for name, values in (("segment", segment), ("level", level),
                                       ("channel", channel), ("department", department))
        for v in values]
    filters = PageFilters.from_query(QueryParams([(k, v) for k, v in pairs if v]))
    say = (lambda _p: None) if quiet else (lambda p: typer.echo(f"rendering {p}", err=True))
    result = build_report(project, out, language=lang, filters=filters, role=role,
                          progress=say)
    typer.echo(f"{result.path}: {len(result.pages)} views as {result.role.value},"
               f" {result.bytes / 1e6:.1f} MB")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code. Every failure is one sentence on stderr and
    exit 1 (project problems, a full disk, anything unexpected), 2 (bad input) or 3 (too
    many bad rows); an interrupt (Ctrl-C) exits 130, as shells expect."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        app(args=argv, prog_name="corridor", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: bad options or arguments
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            _err(f"Error: {exc.format_message()}")
        return exc.exit_code if exc.exit_code in (1, 2) else 2
    except typer.Abort:  # a confirmation answered no (or its terminal closed)
        _err("Aborted; nothing was changed.")
        return 1
    except CorridorError as exc:
        if debug:
            raise
        _err(f"Error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err("Interrupted; the project is as it was before the interrupted step.")
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: one sentence, never a traceback
        if debug:
            raise
        _err(unexpected(exc))
        return 1
    return 0


def unexpected(exc: BaseException) -> str:
    """The one sentence an error that is not a :class:`CorridorError` is shown as: a full
    disk anywhere in its chain says so and where, anything else names its type and first
    line."""
    from .store import disk_full

    full = disk_full(exc)
    if full is not None:
        return f"Error: {full}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"Unexpected error ({type(exc).__name__}{': ' + first if first else ''});"
            " run again with --debug for the details.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

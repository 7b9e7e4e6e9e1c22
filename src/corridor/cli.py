"""The `corridor` command: parses arguments, calls the library, renders the result.

Every failure is one sentence on stderr and a non-zero exit; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from . import __version__
from .errors import CorridorError, InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="corridor: customer culture made measurable.",
)

KINDS = ("customers", "departments", "touchpoints", "events", "transactions", "feedback")


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip() + "\n")


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
def init(project: Path = typer.Argument(..., help="Path of the new project file.")) -> None:
    """Create a new project file with the canonical tables."""
    from .store import Project

    with Project.create(project) as p:
        typer.echo(f"Created project {project} (schema {p.schema_version}).")


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
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Load files into a project; bad rows go to the rejects table, nothing is lost."""
    from .ingest import describe, ingest_file
    from .mapping import Mapping
    from .store import Project

    if kind not in KINDS:
        raise InputError(f"Unknown kind '{kind}'; expected one of {', '.join(KINDS)}.")
    mapping = Mapping.from_toml(map_file) if map_file else None
    results = []
    with Project.open(project) as p:
        for path in files:
            bar = _Progress(f"Loading {path.name}", quiet)
            try:
                result = ingest_file(
                    p, kind, path, mapping=mapping, max_reject_rate=max_reject_rate,
                    progress=bar,
                )
            finally:
                bar.close()
            results.append(result)
            if not as_json:
                typer.echo(describe(result))
    if as_json:
        if len(results) == 1:
            _print_json(results[0].to_dict())
        else:
            _print_json({
                "read": sum(r.read for r in results),
                "accepted": sum(r.accepted for r in results),
                "rejected": sum(r.rejected for r in results),
                "files": [r.to_dict() for r in results],
            })


@app.command()
def info(
    project: Path = typer.Argument(..., help="The project file."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a project's schema version, row counts and loads."""
    from .store import Project

    with Project.open(project, read_only=True) as p:
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
        })
        return
    typer.echo(f"{project}: schema {version}")
    for name, n in counts.items():
        typer.echo(f"  {name:<14}{n:>12,}")


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
        typer.echo(f"{where}: {reason}")


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
    from .showcase import build_demo

    config = DemoConfig(seed=seed) if customers is None else DemoConfig(customers=customers, seed=seed)
    say = (lambda _m: None) if (quiet or as_json) else (lambda m: typer.echo(m, err=True))
    built = build_demo(project, config, progress=_Progress("Building the demo", quiet or as_json), say=say)
    if as_json:
        _print_json(built.to_dict())
        return
    typer.echo(built.summary())
    if not no_serve:
        typer.echo(
            "The web app arrives with issue #6; until then the results are in"
            f" {built.analysis_path} and the project is {built.project}."
        )


def main(argv: list[str] | None = None) -> int:
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
        return exc.exit_code
    except typer.Abort:
        _err("Aborted.")
        return 130
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
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _err(
            f"Unexpected error ({type(exc).__name__}{': ' + first if first else ''});"
            " run again with --debug for the details."
        )
        return 70
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

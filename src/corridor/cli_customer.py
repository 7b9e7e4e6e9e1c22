"""`corridor customer ...`: one customer's personal data — all of it written out as JSON,
or erased from the project file — through corridor.privacy. In a pseudonymised project
the customer is named by their original id (looked up with the project's key) or by
their pseudonym."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json
from .errors import InputError

customer_app = typer.Typer(
    no_args_is_help=True,
    help="A customer's personal data: export all of it, or erase it everywhere.",
)

ProjectPath = Annotated[Path, typer.Argument(help="The project file.")]
CustomerId = Annotated[str, typer.Argument(
    help="The customer's id as it was loaded or, in a pseudonymised project, their"
         " pseudonym (cu_...; the only choice when the project's key is missing).")]


@customer_app.command("export")
def export_command(
    project: ProjectPath,
    customer_id: CustomerId,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write the JSON to this file (readable by its owner only) instead"
        " of standard output.")] = None,
) -> None:
    """Everything the project holds about one customer, as JSON (recorded in the audit
    log)."""
    from .privacy import export_customer

    data = export_customer(project, customer_id, actor="cli")
    text = json.dumps(data.to_dict(), ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    _write_private(out, text)
    rows = sum(data.counts().values())
    named = customer_id.strip()
    if data.customer_id != named:
        named += f" (stored as {data.customer_id})"
    typer.echo(f"Wrote {rows:,} rows about customer {named} to {out}.", err=True)


@customer_app.command("erase")
def erase_command(
    project: ProjectPath,
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", help="Erase without asking first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove one customer from the project everywhere, the file's bytes included; this
    cannot be undone."""
    from .privacy import erase_customer

    if not yes:
        if not sys.stdin.isatty():
            raise InputError(
                f"Erasing customer {customer_id} cannot be undone and there is no terminal"
                " to confirm it on; run again with --yes.")
        typer.confirm(f"Erase customer {customer_id} from {project} everywhere? This cannot"
                      " be undone.", abort=True)
    result = erase_customer(project, customer_id, actor="cli")
    if as_json:
        _print_json(result.to_dict())
        return
    named = customer_id.strip()
    if result.customer_id != named:
        named += f" (stored as {result.customer_id})"
    typer.echo(f"Erased customer {named} from {project}:")
    for line in result.lines():
        typer.echo(f"  {line}")
    typer.echo(f"  file size: {result.bytes_before:,} -> {result.bytes_after:,} bytes")


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all, readable by its owner only."""
    if not path.parent.exists():
        raise InputError(f"The folder {path.parent} does not exist; choose where to write.")
    tmp = path.with_name(path.name + ".writing")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def register(app: typer.Typer) -> None:
    app.add_typer(customer_app, name="customer")

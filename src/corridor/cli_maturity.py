"""`corridor maturity`: the customer-focus maturity stage, as the maturity page shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli import JsonOpt, _print_json

STAGE_NAMES = {1: "developing service quality", 2: "professional service",
               3: "customer-service centre"}


def maturity(
    project: Annotated[Path, typer.Argument(help="The project file.")],
    as_json: JsonOpt = False,
) -> None:
    """The maturity stage with its evidence: the latest assessment kept, else one made
    from the data alone (as on the maturity page)."""
    from . import maturity as library
    from .store import Project

    with Project.open(project, read_only=True) as p:
        assessment, measures = library.current(p)
    basis = None if measures is None else {
        "flow": measures.flow_basis, "accessibility": measures.accessibility_basis}
    if as_json:
        _print_json({**assessment.to_dict(), "kept": measures is None, "basis": basis})
        return
    typer.echo(f"Stage {int(assessment.stage)}: {STAGE_NAMES[int(assessment.stage)]}"
               f" (score {assessment.score:g} of 100;"
               f" {'the latest assessment kept' if measures is None else 'from the data alone'})")
    for e in assessment.evidence:
        value = "no data" if e.value is None else f"{e.value:.3g}"
        said = f" ({basis[e.indicator.value]})" if basis and e.indicator.value in basis else ""
        supports = "" if e.supports is None else f", supports stage {int(e.supports)}"
        typer.echo(f"  {e.indicator.value}{said}: {value}{supports}")


def register(app: typer.Typer) -> None:
    app.command()(maturity)

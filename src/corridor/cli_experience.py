"""`corridor experience`, `corridor risk` and `corridor personas`: the customer's view
from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json

ProjectPath = Annotated[Path, typer.Argument(help="The project file.")]


def experience(
    project: ProjectPath,
    by: Annotated[list[str], typer.Option("--by", help="Group scores by touchpoint, stage, channel, department, segment, level or region (repeatable).")] = [],
    period: Annotated[Optional[str], typer.Option("--period", help="week or month: scores over time.")] = None,
    lookback_days: Annotated[float, typer.Option("--lookback-days", help="Days of journey before each answer that its drivers are read from.")] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """NPS, CSAT and CES with confidence intervals, and what drives low scores and churn."""
    from datetime import timedelta

    from .experience import customer_experience
    from .store import Project

    with Project.open(project, read_only=True) as p:
        report = customer_experience(
            events=p.table("events"), feedback=p.table("feedback"),
            customers=p.table("customers"), touchpoints=p.table("touchpoints"),
            by=tuple(by), period=period, lookback=timedelta(days=lookback_days),
        )
    if as_json:
        _print_json(report.to_dict())
        return
    for score in report.scores:
        overall = score.overall.score
        typer.echo(f"{score.metric.value.upper()}: {overall.value:.3g}"
                   f" [{overall.low:.3g}, {overall.high:.3g}] from {score.responses:,} answers")
    for drivers in [*report.drivers, *([report.churn] if report.churn else [])]:
        top = ", ".join(f"{d.feature} {d.effect:+.3g}" for d in drivers.drivers[:3])
        typer.echo(f"  drivers of {drivers.outcome}: {top}")


def register(app: typer.Typer) -> None:
    app.command()(experience)

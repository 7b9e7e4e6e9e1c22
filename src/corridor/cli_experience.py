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


def risk(
    project: ProjectPath,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Risk of churn or a low score within this many days.")] = 30,
    target: Annotated[str, typer.Option("--target", help="churn, dissatisfaction or either.")] = "either",
    queue: Annotated[int, typer.Option("--queue", help="Customers in the proactive action queue.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Pre-action: a calibrated risk model trained on earlier months and tested on the
    latest, and the customers to act on first (risk × value), each with reasons and a
    suggested action."""
    from .risk import RiskModel, data_end, proactive_queue, reference_dates, risk_tables
    from .store import Project

    with Project.open(project, read_only=True) as p:
        tables = risk_tables(p)
        model = RiskModel(horizon_days=horizon_days, target=target)
        model.fit(tables, as_of=reference_dates(tables, horizon_days=horizon_days))
        ranked = proactive_queue(model, tables, data_end(tables), size=queue)
    if as_json:
        _print_json({"model": model.fit_.to_dict(), "queue": ranked.to_dict()})
        return
    held = model.fit_.holdout
    auc = "-" if held.auc is None else f"{held.auc:.3f}"
    typer.echo(f"Risk of {model.fit_.target.value} within {horizon_days} days"
               f" ({model.fit_.learner.value}): holdout {held.as_of} AUC {auc},"
               f" precision in the top {held.top_k} {held.precision_at_k:.1%}"
               f" (base rate {held.base_rate:.1%}), calibration error"
               f" {held.expected_calibration_error:.3f}")
    for item in ranked.items:
        why = "; ".join(r.description for r in item.reasons)
        typer.echo(f"{item.rank:>3}. {item.customer_id} risk {item.risk:.1%} × value"
                   f" {item.value:,.0f}: {item.action.action} ({why})")


def register(app: typer.Typer) -> None:
    app.command()(experience)
    app.command()(risk)

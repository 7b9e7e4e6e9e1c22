"""`corridor experience`, `corridor risk` and `corridor personas`: the customer's view
from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json
from .errors import InputError

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
        typer.echo(f"  drivers of {drivers.outcome}:")
        for d in drivers.drivers[:3]:
            typer.echo(f"    {d.rank}. {d.feature} {d.effect:+.3g}"
                       f" [{d.ci_low:+.3g}, {d.ci_high:+.3g}] {_reading(d)}")


def _reading(driver) -> str:
    """How to read a driver (see corridor.drivers): flagged ones say why."""
    from .drivers import Assessment

    if driver.assessment is Assessment.AS_EXPECTED:
        return "as expected"
    if driver.assessment is Assessment.NO_EXPECTATION:
        return "significant (no expected direction stated)"
    if driver.assessment is Assessment.CONTRADICTS_EXPECTATION:
        way = "raise" if driver.expected_sign > 0 else "lower"
        return f"FLAGGED: against expectation (expected to {way} it)"
    why = "the interval is wide" if driver.significant else "the interval includes 0"
    return f"FLAGGED: uncertain, {why}"


def risk(
    project: ProjectPath,
    horizon_days: Annotated[int, typer.Option("--horizon-days", help="Risk of churn or a low score within this many days.")] = 30,
    target: Annotated[str, typer.Option("--target", help="churn, dissatisfaction or either.")] = "either",
    queue: Annotated[int, typer.Option("--queue", help="Customers in the proactive action queue.")] = 20,
    names: Annotated[bool, typer.Option("--names", help="Show customers' names (personal data) beside their ids.")] = False,
    csv_file: Annotated[Optional[Path], typer.Option("--csv", help="Also write the queue to this CSV file (names only with --names).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pre-action: a calibrated risk model trained on earlier months and tested on the
    latest, and the customers to act on first (risk × value), each with reasons and a
    suggested action."""
    from .risk import (RiskModel, customer_names, data_end, proactive_queue, reference_dates,
                       risk_tables, write_queue_csv)
    from .store import Project

    with Project.open(project, read_only=True) as p:
        tables = risk_tables(p)
        model = RiskModel(horizon_days=horizon_days, target=target)
        model.fit(tables, as_of=reference_dates(tables, horizon_days=horizon_days))
        ranked = proactive_queue(model, tables, data_end(tables), size=queue)
        named = customer_names(p, [i.customer_id for i in ranked.items]) if names else {}
    if csv_file is not None:
        try:
            rows = write_queue_csv(ranked, csv_file, named if names else None)
        except OSError as exc:
            raise InputError(f"{csv_file}: the queue could not be written ({exc.strerror}).") from None
        typer.echo(f"{csv_file}: {rows:,} customers in the queue", err=True)
    if as_json:
        data = ranked.to_dict()
        if names:
            for item in data["items"]:
                item["name"] = named.get(item["customer_id"])
        _print_json({"model": model.fit_.to_dict(), "queue": data})
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
        who = f"{named[item.customer_id]} ({item.customer_id})" if item.customer_id in named else item.customer_id
        typer.echo(f"{item.rank:>3}. {who} risk {item.risk:.1%} × value"
                   f" {item.value:,.0f}: {item.action.action} ({why})")


def personas(
    project: ProjectPath,
    k_min: Annotated[int, typer.Option("--k-min", help="Fewest personas to try.")] = 2,
    k_max: Annotated[int, typer.Option("--k-max", help="Most personas to try.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Random state of k-means and the silhouette sample.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Personas from behaviour and value (their number chosen by the silhouette), each
    with an empathy map: says, does, thinks and feels, pains and gains."""
    from .empathy import empathy_maps
    from .personas import PersonaModel
    from .store import Project

    with Project.open(project, read_only=True) as p:
        model = PersonaModel((k_min, k_max), random_state=seed).fit(
            p.table("events"), touchpoints=p.table("touchpoints"),
            transactions=p.table("transactions"), feedback=p.table("feedback"),
            customers=p.table("customers"))
        maps = empathy_maps(p.table("events"), model.groups(), feedback=p.table("feedback"),
                            touchpoints=p.table("touchpoints"))
    if as_json:
        _print_json({"personas": model.personas_.to_dict(), "empathy": maps.to_dict()})
        return
    result = model.personas_
    typer.echo(f"{result.k} personas of {result.customers:,} customers (silhouette "
               + ", ".join(f"k={s.k}: {s.silhouette:.3f}" for s in result.scores) + ")")
    for card in result.cards:
        pains = "; ".join(f"{p.kind.value} at {p.touchpoint}" for p in card.pains[:2])
        typer.echo(f"{card.persona}. {card.name}: {card.customers:,} ({card.share:.0%})"
                   + (f" - {pains}" if pains else ""))


def register(app: typer.Typer) -> None:
    app.command()(experience)
    app.command()(risk)
    app.command()(personas)

"""`corridor incidents ...`: the reaction loop's memory from the command line — incidents,
their 5 Whys and their actions, created, edited and read through corridor.incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json

incidents_app = typer.Typer(
    no_args_is_help=True,
    help="Incidents, their 5 Whys and their corrective and preventive actions.",
)

ProjectPath = Annotated[Path, typer.Argument(help="The project file.")]
IncidentId = Annotated[int, typer.Argument(help="The incident's number.")]
ActionId = Annotated[int, typer.Argument(help="The action's number.")]
TouchpointOpt = Annotated[Optional[str], typer.Option("--touchpoint", help="The touchpoint it concerns.")]
DepartmentOpt = Annotated[Optional[str], typer.Option("--department", help="The department it concerns.")]


def _project(path: Path, *, write: bool):
    from .store import Project

    return Project.open(path, read_only=not write)


def _audited(project, action: str, target: str, **detail) -> None:
    """Every edit from the command line leaves an audit entry, as one from the web app
    does; the actor is the operating-system user who ran the command."""
    from .audit import cli_actor, record

    record(project, cli_actor(), action, target, detail)


def _show_incident(incident, as_json: bool) -> None:
    if as_json:
        _print_json(incident.to_dict())
        return
    typer.echo(f"#{incident.incident_id} [{incident.status.value}] {incident.title}"
               f" ({incident.opened_at:%Y-%m-%d}, {incident.touchpoint or '-'},"
               f" {incident.department_id or '-'})")
    for why in incident.all_whys():
        depth = len(incident.chain_to(why.why_id))
        mark = "  ← root cause" if why.is_root_cause else ""
        typer.echo(f"{'  ' * depth}why {why.why_id}: {why.statement}{mark}")
    for action in incident.actions:
        typer.echo(f"  action {action.action_id} [{action.status.value}] {action.kind.value}:"
                   f" {action.title} ({action.owner_department_id}, due {action.due})")


@incidents_app.command("list")
def list_command(
    project: ProjectPath,
    status: Annotated[Optional[str], typer.Option("--status", help="Only incidents with this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The incidents, oldest first."""
    from .incidents import list_incidents

    with _project(project, write=False) as p:
        found = list_incidents(p, status=status)
    if as_json:
        _print_json([i.to_dict() for i in found])
        return
    for incident in found:
        typer.echo(f"#{incident.incident_id} [{incident.status.value}] {incident.title}")


@incidents_app.command("show")
def show_command(project: ProjectPath, incident_id: IncidentId, as_json: JsonOpt = False) -> None:
    """One incident with its tree of whys and its actions."""
    from .incidents import get_incident

    with _project(project, write=False) as p:
        incident = get_incident(p, incident_id)
    _show_incident(incident, as_json)


@incidents_app.command("open")
def open_command(
    project: ProjectPath,
    title: Annotated[str, typer.Option("--title", help="What went wrong, in one line.")],
    touchpoint: TouchpointOpt = None,
    department: DepartmentOpt = None,
    description: Annotated[Optional[str], typer.Option("--description", help="More detail.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open an incident by hand."""
    from .incidents import open_incident

    with _project(project, write=True) as p:
        incident = open_incident(p, title, touchpoint=touchpoint, department_id=department,
                                 description=description)
        _audited(p, "incident.open", f"incident {incident.incident_id}")
    _show_incident(incident, as_json)


@incidents_app.command("from-alarm")
def from_alarm_command(
    project: ProjectPath,
    touchpoint: Annotated[str, typer.Option("--touchpoint", help="The touchpoint that alarmed.")],
    day: Annotated[str, typer.Option("--day", help="The day of the alarm (YYYY-MM-DD).")],
    metric: Annotated[Optional[str], typer.Option("--metric", help="The alarm's metric, when the day has several.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open an incident from an exception alarm (see corridor exceptions)."""
    from .cli import _day
    from .errors import InputError
    from .exceptions import detect_exceptions
    from .incidents import open_from_alarm

    when = _day(day, "--day")
    with _project(project, write=True) as p:
        report = detect_exceptions(p.table("events"), feedback=p.table("feedback"),
                                   touchpoints=(touchpoint,))
        found = [a for a in report.alarms_for(touchpoint)
                 if a.day == when and (metric is None or a.metric.value == metric)]
        if len(found) != 1:
            what = "no alarm" if not found else "several alarms (choose one with --metric)"
            raise InputError(f"{touchpoint} has {what} on {day}; see corridor exceptions.")
        incident = open_from_alarm(p, found[0])
        _audited(p, "incident.open", f"incident {incident.incident_id}", source="alarm")
    _show_incident(incident, as_json)


@incidents_app.command("why")
def why_command(
    project: ProjectPath,
    incident_id: IncidentId,
    statement: Annotated[str, typer.Option("--statement", help="The answer to 'why?'.")],
    parent: Annotated[Optional[int], typer.Option("--parent", help="The why this one explains (default: the incident itself).")] = None,
    touchpoint: TouchpointOpt = None,
    department: DepartmentOpt = None,
    root_cause: Annotated[bool, typer.Option("--root-cause", help="This why is a root cause.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a why to an incident's chain or tree."""
    from .incidents import add_why, get_incident

    with _project(project, write=True) as p:
        add_why(p, incident_id, statement, parent_id=parent, touchpoint=touchpoint,
                department_id=department, is_root_cause=root_cause)
        _audited(p, "why.add", f"incident {incident_id}")
        incident = get_incident(p, incident_id)
    _show_incident(incident, as_json)


@incidents_app.command("action")
def action_command(
    project: ProjectPath,
    incident_id: IncidentId,
    title: Annotated[str, typer.Option("--title", help="What will be done.")],
    kind: Annotated[str, typer.Option("--kind", help="corrective or preventive.")],
    owner: Annotated[str, typer.Option("--owner", help="The department that owns it.")],
    due: Annotated[str, typer.Option("--due", help="Due date (YYYY-MM-DD).")],
    why: Annotated[Optional[int], typer.Option("--why", help="The why it answers.")] = None,
    effect: Annotated[Optional[str], typer.Option("--effect", help="The effect expected, in words.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a corrective or preventive action to an incident."""
    from .incidents import add_action, get_incident

    with _project(project, write=True) as p:
        add_action(p, incident_id, title, kind=kind, owner_department_id=owner, due=due,
                   why_id=why, effect=effect)
        _audited(p, "action.add", f"incident {incident_id}")
        incident = get_incident(p, incident_id)
    _show_incident(incident, as_json)


def _given(**values) -> dict:
    """Only the options the user gave: the rest stay as they are."""
    return {name: value for name, value in values.items() if value is not None}


@incidents_app.command("update")
def update_command(
    project: ProjectPath,
    incident_id: IncidentId,
    title: Annotated[Optional[str], typer.Option("--title", help="A new title.")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="open, investigating or closed.")] = None,
    touchpoint: TouchpointOpt = None,
    department: DepartmentOpt = None,
    description: Annotated[Optional[str], typer.Option("--description", help="A new description.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an incident's title, status, touchpoint, department or description."""
    from .incidents import update_incident

    with _project(project, write=True) as p:
        incident = update_incident(p, incident_id, **_given(
            title=title, status=status, touchpoint=touchpoint, department_id=department,
            description=description))
        _audited(p, "incident.update", f"incident {incident_id}",
                 fields=sorted(_given(title=title, status=status, touchpoint=touchpoint,
                                      department_id=department, description=description)))
    _show_incident(incident, as_json)


@incidents_app.command("update-why")
def update_why_command(
    project: ProjectPath,
    why_id: Annotated[int, typer.Argument(help="The why's number.")],
    statement: Annotated[Optional[str], typer.Option("--statement", help="A new statement.")] = None,
    root_cause: Annotated[Optional[bool], typer.Option("--root-cause/--not-root-cause", help="Mark or unmark it as a root cause.")] = None,
    touchpoint: TouchpointOpt = None,
    department: DepartmentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a why's statement, root-cause mark, touchpoint or department."""
    from .incidents import get_incident, update_why

    with _project(project, write=True) as p:
        why = update_why(p, why_id, **_given(statement=statement, is_root_cause=root_cause,
                                             touchpoint=touchpoint, department_id=department))
        _audited(p, "why.update", f"why {why_id}")
        incident = get_incident(p, why.incident_id)
    _show_incident(incident, as_json)


@incidents_app.command("update-action")
def update_action_command(
    project: ProjectPath,
    action_id: ActionId,
    title: Annotated[Optional[str], typer.Option("--title", help="A new title.")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="open, in_progress or done.")] = None,
    owner: Annotated[Optional[str], typer.Option("--owner", help="A new owner department.")] = None,
    due: Annotated[Optional[str], typer.Option("--due", help="A new due date (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an action's title, status, owner department or due date."""
    from .incidents import update_action

    with _project(project, write=True) as p:
        action = update_action(p, action_id, **_given(
            title=title, status=status, owner_department_id=owner, due=due))
        _audited(p, "action.update", f"action {action_id}")
    if as_json:
        _print_json(action.to_dict())
        return
    typer.echo(f"action {action.action_id} [{action.status.value}] {action.title}"
               f" ({action.owner_department_id}, due {action.due})")


@incidents_app.command("done")
def done_command(
    project: ProjectPath,
    action_id: ActionId,
    at: Annotated[Optional[str], typer.Option("--at", help="When it was completed (default: now).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an action as done."""
    from .incidents import complete_action

    with _project(project, write=True) as p:
        action = complete_action(p, action_id, at=at)
        _audited(p, "action.done", f"action {action_id}")
    if as_json:
        _print_json(action.to_dict())
        return
    typer.echo(f"action {action.action_id} done at {action.completed_at:%Y-%m-%d %H:%M}")


@incidents_app.command("measure")
def measure_command(
    project: ProjectPath,
    action_id: Annotated[Optional[int], typer.Argument(help="One done action (default: every done action not measured yet).")] = None,
    window_days: Annotated[int, typer.Option("--window-days", help="Days compared before and after completion.")] = 28,
    again: Annotated[bool, typer.Option("--again", help="Measure actions that were measured before, too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure the effect of done actions in later data and keep it with each action."""
    from .effects import measure_action_effect, measure_completed_actions, save_effect

    with _project(project, write=True) as p:
        if action_id is None:
            run = measure_completed_actions(p, window_days=window_days, remeasure=again)
            data = run.to_dict()
        else:
            effect = measure_action_effect(p, action_id, window_days=window_days)
            save_effect(p, effect)
            data = {"measured": [effect.to_dict()], "skipped": []}
        _audited(p, "action.measure", "actions",
                 measured=[item["action_id"] for item in data["measured"]])
    if as_json:
        _print_json(data)
        return
    for item in data["measured"]:
        typer.echo(f"action {item['action_id']}: {_effect_line(item)}")
    for item in data["skipped"]:
        typer.echo(f"action {item['action_id']} not measured: {item['reason']}")


def _effect_line(effect: dict) -> str:
    def shown(window: dict) -> str:
        value = window.get("value")
        return "-" if value is None else f"{value:.4g}"

    return (f"{effect['metric']} of {effect['touchpoint']}: {shown(effect['before'])}"
            f" → {shown(effect['after'])} ({effect['verdict']})")


def register(app: typer.Typer) -> None:
    app.add_typer(incidents_app, name="incidents")

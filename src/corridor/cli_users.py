"""`corridor user ...`: the project's accounts from the command line — add, change a
role, disable, list — through corridor.accounts. Passwords are never taken as
arguments (they would land in the shell history): a one-time password is generated and
printed once, or one is read from stdin with --password-stdin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json

users_app = typer.Typer(no_args_is_help=True, help="The project's accounts and their roles.")

ProjectPath = Annotated[Path, typer.Argument(help="The project file.")]
UserName = Annotated[str, typer.Argument(help="The user name.")]
RoleArg = Annotated[str, typer.Argument(
    help="staff, department_head, manager, analyst or admin.")]
DepartmentOpt = Annotated[Optional[str], typer.Option(
    "--department", help="The department (required for a department head).")]


def _project(path: Path):
    from .store import Project

    return Project.open(path)


def announce(new_user) -> str:
    """The line that hands a new account over (its password shown this once)."""
    if new_user.generated:
        return (f"Added {new_user.user.user_name} ({new_user.user.role.value}); one-time"
                f" password: {new_user.password}")
    return f"Added {new_user.user.user_name} ({new_user.user.role.value})."


@users_app.command("add")
def add_command(
    project: ProjectPath,
    name: UserName,
    role: Annotated[str, typer.Option("--role", help="staff, department_head, manager, analyst or admin.")],
    department: DepartmentOpt = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from stdin instead of generating one.")] = False,
) -> None:
    """Add an account; prints a generated one-time password once."""
    from .accounts import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    with _project(project) as p:
        made = add_user(p, name, role, department_id=department, password=password)
    typer.echo(announce(made))


@users_app.command("set-role")
def set_role_command(project: ProjectPath, name: UserName, role: RoleArg,
                     department: DepartmentOpt = None) -> None:
    """Change a user's role (their open sessions end)."""
    from .accounts import set_role

    with _project(project) as p:
        user = set_role(p, name, role, department_id=department)
    where = f" of {user.department_id}" if user.department_id else ""
    typer.echo(f"{user.user_name} is now {user.role.value}{where}.")


@users_app.command("disable")
def disable_command(project: ProjectPath, name: UserName) -> None:
    """Disable an account: it can no longer sign in and its sessions end."""
    from .accounts import disable_user

    with _project(project) as p:
        disable_user(p, name)
    typer.echo(f"{name} is disabled.")


@users_app.command("list")
def list_command(project: ProjectPath, as_json: JsonOpt = False) -> None:
    """The accounts, by name."""
    from .accounts import list_users
    from .store import Project

    with Project.open(project, read_only=True) as p:
        found = list_users(p)
    if as_json:
        _print_json([u.to_dict() for u in found])
        return
    for u in found:
        state = " (disabled)" if u.disabled else ""
        typer.echo(f"{u.user_name}\t{u.role.value}\t{u.department_id or '-'}{state}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="user")

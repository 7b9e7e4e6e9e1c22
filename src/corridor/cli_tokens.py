"""`corridor token ...`: API tokens for scripts — make one for an account (shown once),
list them, revoke one — through corridor.tokens. Every change leaves an audit entry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import JsonOpt, _print_json

tokens_app = typer.Typer(no_args_is_help=True, help="API tokens for scripts.")

ProjectPath = Annotated[Path, typer.Argument(help="The project file.")]


@tokens_app.command("create")
def create_command(
    project: ProjectPath,
    user: Annotated[str, typer.Argument(help="The account the token acts as.")],
    label: Annotated[Optional[str], typer.Option("--label", help="What the token is for.")] = None,
) -> None:
    """Make a token for an account; it is printed this once and never again."""
    from .audit import cli_actor, record
    from .store import Project
    from .tokens import create_token

    with Project.open(project) as p:
        made = create_token(p, user, label)
        record(p, cli_actor(), "token.create", user,
               {"token_id": made.info.token_id, "label": label})
    typer.echo(f"Token {made.info.token_id} for {user} (shown once): {made.token}")


@tokens_app.command("list")
def list_command(
    project: ProjectPath,
    user: Annotated[Optional[str], typer.Option("--user", help="Only this account's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The tokens (their ids, never the tokens themselves)."""
    from .store import Project
    from .tokens import list_tokens

    with Project.open(project, read_only=True) as p:
        found = list_tokens(p, user)
    if as_json:
        _print_json([t.to_dict() for t in found])
        return
    for t in found:
        state = " (revoked)" if t.revoked else ""
        typer.echo(f"{t.token_id}\t{t.user_name}\t{t.created_at:%Y-%m-%d}\t"
                   f"{t.label or '-'}{state}")


@tokens_app.command("revoke")
def revoke_command(
    project: ProjectPath,
    token_id: Annotated[str, typer.Argument(help="The token's id, as listed.")],
) -> None:
    """Revoke a token: scripts using it are refused from the next request on."""
    from .audit import cli_actor, record
    from .store import Project
    from .tokens import revoke_token

    with Project.open(project) as p:
        info = revoke_token(p, token_id)
        record(p, cli_actor(), "token.revoke", info.user_name, {"token_id": info.token_id})
    typer.echo(f"Token {info.token_id} of {info.user_name} is revoked.")


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="token")

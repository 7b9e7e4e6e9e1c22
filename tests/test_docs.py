"""Docs stay honest: every command has help text and is documented in the README, with
every one of its options."""

from pathlib import Path

import pytest
import typer.main

from corridor.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = typer.main.get_command(app).commands


def _section(title: str) -> str:
    return README.split(f"### {title}", 1)[-1].split("\n### ", 1)[0]


def test_the_readme_starts_with_the_two_commands():
    assert "make demo" in README and "make test" in README
    assert README.index("make demo") < README.index("## CLI reference")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_text(name):
    assert (COMMANDS[name].help or "").strip(), f"corridor {name} has no help text"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_its_options_are_in_the_readme(name):
    assert f"corridor {name}" in README, f"README does not document corridor {name}"
    section = README.split(f"### corridor {name}\n", 1)[-1].split("\n### ", 1)[0]
    if f"`corridor {name}`" in _section("Analytics: shared options"):
        section += _section("Analytics: shared options")
    for param in COMMANDS[name].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert opt in section, f"README's corridor {name} section lacks {opt}"


SUBCOMMANDS = [
    (group, name) for group, command in sorted(COMMANDS.items())
    for name in sorted(getattr(command, "commands", {}))
]


@pytest.mark.parametrize(("group", "name"), SUBCOMMANDS)
def test_every_subcommand_and_its_options_are_in_the_readme(group, name):
    section = README.split(f"### corridor {group}\n", 1)[-1].split("\n### ", 1)[0]
    assert f"corridor {group} {name}" in section, f"README lacks corridor {group} {name}"
    command = COMMANDS[group].commands[name]
    assert (command.help or "").strip(), f"corridor {group} {name} has no help text"
    for param in command.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--") and opt != "--help":
                assert opt in section, f"README's corridor {group} section lacks {opt}"


def test_make_targets_and_ci_use_the_readme_commands():
    root = Path(__file__).parent.parent
    makefile = (root / "Makefile").read_text()
    for target in ("install:", "demo:", "test:"):
        assert target in makefile
    assert "make test" in (root / ".ci" / "run").read_text()

"""The one `leadloop` command: its subcommands come from the installed services.

A service registers each subcommand as an entry point in the `leadloop.commands` group, named
after the subcommand and pointing at a `Command`. So capture's `import` and outcomes' `demo` and
`rebuild` share one command without either service importing the other, and a machine that has
only some services installed gets only their subcommands.
"""

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "leadloop.commands"


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how it adds its arguments, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # Returns the exit code (None means 0).
    run: Callable[[argparse.Namespace], int | None]


def installed_commands() -> dict[str, Command]:
    """Every subcommand the installed packages register, by name."""
    found: dict[str, Command] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        command = entry.load()
        if not isinstance(command, Command):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a leadloop.cli."
                            "Command")
        if entry.name in found:  # two packages claim the name: say so rather than pick one
            raise RuntimeError(f"two installed packages register `leadloop {entry.name}`")
        found[entry.name] = command
    return found


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    """`leadloop` with one subparser per command."""
    parser = argparse.ArgumentParser(prog="leadloop", description="LeadLoop's command line.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in sorted(commands.items()):
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None, commands: dict[str, Command] | None = None) -> int:
    """Entry point of the `leadloop` console script: the installed commands, or `commands`."""
    args = build_parser(installed_commands() if commands is None else commands).parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

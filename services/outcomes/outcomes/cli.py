"""`leadloop demo` and `leadloop rebuild`: the outcomes side of the command line."""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from leadloop.cli import Command
from outcomes.demo.run import DEFAULT_MINUTES, DemoConfig, run_demo

KEY_VARIABLE = "LEADLOOP_DEV_ADMIN_KEY"
DEFAULT_PORTS = {"capture": 8001, "handoff": 8003, "outcomes": 8005}


def _dev_key(home: Path) -> str | None:
    """The local stack's admin key: $LEADLOOP_DEV_ADMIN_KEY, else <home>/dev-keys.env."""
    if os.environ.get(KEY_VARIABLE):
        return os.environ[KEY_VARIABLE]
    path = home / "dev-keys.env"
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == KEY_VARIABLE:
                return value.strip()
    return None


def _add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--leads", type=int, default=10_000)
    demo.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                      help="how long the run lasts at most (real minutes); the reps' call "
                           "delays, deal closes and repeat purchases shrink to fit it")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--home", type=Path, default=Path(".leadloop"),
                      help="the local stack's state folder (for its dev key)")
    for name, port in DEFAULT_PORTS.items():
        demo.add_argument(f"--{name}-url", default=None, help=f"default http://HOST:{port}")


def _demo(args: argparse.Namespace) -> None:
    key = _dev_key(args.home)
    if not key:
        sys.exit(f"no API key: set {KEY_VARIABLE} or run from the folder with .leadloop/")
    urls = {name: getattr(args, f"{name}_url") or f"http://{args.host}:{port}"
            for name, port in DEFAULT_PORTS.items()}
    config = DemoConfig(urls=urls, api_key=key, leads=args.leads, minutes=args.minutes,
                        seed=args.seed, fit_reps=True)
    result = asyncio.run(run_demo(config))
    print(f"demo done in {result['seconds']:.0f}s: {result['leads']:,} leads, "
          f"{result['handed_off']:,} handed off, {result['called']:,} called, "
          f"{result['won']:,} deals won and {result['lost']:,} lost, "
          f"{result['repeat_won']:,} repeat purchases; "
          f"{result['deals_open_at_the_end']:,} deals still open; "
          f"{result['calls_after_the_run']:,} calls and {result['repeats_after_the_run']:,} "
          "repeat purchases would have come after the run.")
    print(f"dashboard: {urls['outcomes']}/dashboard  (sign in with the admin key)")


def _rebuild(args: argparse.Namespace) -> None:
    from outcomes.rebuild.service import main as rebuild_main
    rebuild_main()


# `leadloop demo` and `leadloop rebuild`, registered in pyproject.toml's leadloop.commands.
DEMO_COMMAND = Command(help="fill the running stack with a month of leads",
                       add_arguments=_add_demo_arguments, run=_demo)
REBUILD_COMMAND = Command(help="rebuild outcomes' read model from Kafka into fresh tables",
                          add_arguments=lambda parser: None, run=_rebuild)

"""MkDocs hook: the reference pages' tables, generated from the code at build time.

A page asks for a table with a marker line, e.g. `<!-- generated: settings -->`; the marker is
replaced by Markdown built from the installed packages (the settings classes, the `leadloop`
command's parser, the event models and topology). Nothing here is copied by hand, so the
reference cannot drift from the code; `make docs` fails when a marker is unknown.
"""

import argparse
import ast
import importlib
import inspect
import json
import re
import textwrap
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)


# --- settings -----------------------------------------------------------------------------------

def _field_comments(cls: type) -> dict[str, str]:
    """The comment block right above each field of `cls` (and a comment on its own line), from
    the class's source: the settings classes explain their fields in comments."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments: dict[str, str] = {}
    previous: str | None = None
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        block: list[str] = []
        row = node.lineno - 2  # the line above, 0-based
        while row >= 0 and lines[row].strip().startswith("#"):
            block.insert(0, lines[row].strip().lstrip("#").strip())
            row -= 1
        inline = lines[node.lineno - 1].split("  # ", 1)
        if len(inline) == 2:
            block.append(inline[1].strip())
        if block:
            comments[node.target.id] = " ".join(block)
        elif row >= 0 and previous is not None and previous in comments and lines[row].strip():
            # no comment of its own, right under a commented field: one group
            comments[node.target.id] = "(with the setting above)"
        previous = node.target.id
    return comments


def _description(cls: type, name: str, field: FieldInfo) -> str:
    if field.description:
        return field.description
    for klass in cls.__mro__:  # the nearest class whose source explains the field
        if name in getattr(klass, "__annotations__", {}):
            if text := _field_comments(klass).get(name):
                return text
    return ""


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, Path) and value.is_relative_to(REPO):
        value = value.relative_to(REPO)  # the repository's folder, not this machine's path
    if value is None:
        return "unset"
    if isinstance(value, str) and value == "":
        return "empty"
    if isinstance(value, (dict, list, tuple)):
        return f"`{json.dumps(value if not isinstance(value, tuple) else list(value))}`"
    return f"`{value}`"


def _type(field: FieldInfo) -> str:
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return re.sub(r"\b[\w.]+\.(\w+)", r"\1", text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table(cls: type, prefix: str, names: list[str] | None = None) -> str:
    """One row per setting: environment variable, type, default, what it does."""
    fields = cls.model_fields  # type: ignore[attr-defined]
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for name in names if names is not None else list(fields):
        field = fields[name]
        rows.append(f"| `{prefix}{name.upper()}` | `{_cell(_type(field))}` | "
                    f"{_cell(_default(field))} | {_cell(_description(cls, name, field))} |")
    return "\n".join(rows)


def settings_reference() -> str:
    """Every service's settings (what all share, then what each adds or sets differently) and
    the local stack's."""
    from leadloop.events.topology import SERVICES
    from leadloop.settings import ServiceSettings
    from leadloop_devstack.config import StackSettings

    out = ["## Every service", "",
           "Each service reads these with its own prefix, `LEADLOOP_<SERVICE>_` "
           "(`LEADLOOP_CAPTURE_DATABASE_URL`, ...). Defaults here are the shared base's; a "
           "service's own section lists the ones it sets differently.", "",
           settings_table(ServiceSettings, "LEADLOOP_<SERVICE>_"), ""]
    base = ServiceSettings.model_fields
    for service in SERVICES:
        module = importlib.import_module(f"{service}.config")
        cls: type[ServiceSettings] = next(
            v for v in vars(module).values() if isinstance(v, type)
            and issubclass(v, ServiceSettings) and v.__module__ == module.__name__)
        prefix = str(cls.model_config["env_prefix"]).upper()
        own = [n for n, f in cls.model_fields.items()
               if n not in base or _default(f) != _default(base[n])]
        out += [f"## {service}", "", f"`{cls.__module__}.{cls.__name__}`, prefix `{prefix}`: "
                "the settings it adds, and the shared ones it sets differently.", "",
                settings_table(cls, prefix, own), ""]
    prefix = str(StackSettings.model_config["env_prefix"]).upper()
    out += ["## The local stack", "", f"`leadloop_devstack.config.StackSettings`, prefix "
            f"`{prefix}` (`make run`, `make test`).", "", settings_table(StackSettings, prefix)]
    return "\n".join(out)


# --- the command line ---------------------------------------------------------------------------

def cli_reference() -> str:
    """`leadloop --help` and each installed subcommand's help, as the parser prints them."""
    from leadloop.cli import build_parser, installed_commands

    parser = build_parser(installed_commands())
    out = ["## `leadloop`", "", "```text", parser.format_help().rstrip(), "```", ""]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in sorted(subparsers.choices.items()):
        out += [f"## `leadloop {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(out)


# --- events -------------------------------------------------------------------------------------

def events_reference() -> str:
    """Every event type: who publishes it on which topic, who consumes that topic, and the model's
    docstring; each links to its JSON Schema in contracts/events/."""
    from leadloop.events import models
    from leadloop.events.topology import CONSUMES, PUBLISHES, topic_of

    rows = ["| type | published by (topic) | consumed by | when | JSON Schema |",
            "|---|---|---|---|---|"]
    for cls in models.EventData.__subclasses__():  # in the order the models file defines them
        event_type = cls.model_fields["type"].default
        producers = [s for s, types in PUBLISHES.items() if event_type in types]
        consumers = sorted({c for c, sources in CONSUMES.items() for p in producers
                            if p in sources})
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        where = ", ".join(f"{p} (`{topic_of(p)}`)" for p in producers) or "-"
        rows.append(f"| `{event_type}` | {where} | {', '.join(consumers) or '-'} | "
                    f"{_cell(summary)} | `contracts/events/{event_type}.json` |")
    return "\n".join(rows)


GENERATORS = {"settings": settings_reference, "cli": cli_reference, "events": events_reference}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace each `<!-- generated: NAME -->` line with that generator's Markdown."""
    def generate(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: no generator named {name!r}")
        return GENERATORS[name]()
    return MARKER.sub(generate, markdown)

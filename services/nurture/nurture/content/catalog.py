"""Every template version, held in memory: the scheduler renders from here and sequence saves
resolve step references here, never querying per message. Refreshed when a version is added
(on any replica within a second; `invalidate` after a local save)."""

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leadloop.reference import Reference
from nurture.content.templates import Problem, Template
from nurture.sequences.steps import Channel, SendEmailStep, SendStep
from nurture.tables import templates


@dataclass(frozen=True)
class TemplateCatalog:
    """Every stored template version, by (key, version)."""

    versions: Mapping[tuple[str, int], Template] = field(default_factory=dict)

    @cached_property
    def _newest(self) -> dict[str, int]:
        newest: dict[str, int] = {}
        for key, version in self.versions:
            newest[key] = max(version, newest.get(key, 0))
        return newest

    def newest_version(self, key: str) -> int | None:
        """The newest version of a key, or None when there is no such template."""
        return self._newest.get(key)

    def get(self, key: str, version: int | None = None) -> Template | None:
        """A version of a template (the newest when `version` is None), or None."""
        wanted = version if version is not None else self.newest_version(key)
        return None if wanted is None else self.versions.get((key, wanted))


def template_of(row: Any) -> Template:
    """A stored template row as the domain's Template."""
    return Template(key=row.key, version=row.version, channel=Channel(row.channel),
                    subject=row.subject, html=row.html, text=row.text)


async def _load(conn: AsyncConnection) -> TemplateCatalog:
    t = templates.c
    rows = await conn.execute(select(t.key, t.version, t.channel, t.subject, t.html, t.text))
    return TemplateCatalog({(row.key, row.version): template_of(row) for row in rows})


# Versions are immutable and never deleted: their count changes exactly when one is added.
_VERSION = text("SELECT count(*) FROM templates")


async def _version(conn: AsyncConnection) -> Any:
    return (await conn.execute(_VERSION)).scalar_one()


_BY_ENGINE: "weakref.WeakKeyDictionary[AsyncEngine, Reference[TemplateCatalog]]" = \
    weakref.WeakKeyDictionary()


async def current(conn: AsyncConnection) -> TemplateCatalog:
    """The template catalog of the database `conn` is on."""
    reference = _BY_ENGINE.get(conn.engine)
    if reference is None:
        reference = _BY_ENGINE.setdefault(conn.engine, Reference(_load, _version))
    return await reference.get(conn)


def invalidate() -> None:
    """After a template version was added here: read them afresh on next use."""
    for reference in list(_BY_ENGINE.values()):
        reference.invalidate()


def pin_templates(steps: list[Any], catalog: TemplateCatalog) -> tuple[list[Any], list[Problem]]:
    """Sequence steps with every send step's template pinned to a version (the newest when
    the step names none), and what is wrong: an unknown template or version, or one written
    for another channel. Problems name the step (steps.N.template)."""
    pinned, problems = [], []
    for index, step in enumerate(steps):
        if not isinstance(step, (SendEmailStep, SendStep)):
            pinned.append(step)
            continue
        where = f"steps.{index}.template"
        template = catalog.get(step.template, step.template_version)
        if template is None:
            missing = (f"no template '{step.template}'" if step.template_version is None else
                       f"template '{step.template}' has no version {step.template_version}")
            problems.append(Problem(where, missing))
        elif template.channel != step.channel:
            problems.append(Problem(where, f"template '{step.template}' is for "
                                    f"{template.channel.value}, the step sends "
                                    f"{step.channel.value}"))
        else:
            step = step.model_copy(update={"template_version": template.version})
        pinned.append(step)
    return pinned, problems

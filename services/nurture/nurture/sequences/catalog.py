"""The sequences, held in memory: which live version each entry rule enrolls into, and every
version's exit conditions. Read once per database and refreshed when they change, never per
event (an edit on any replica is seen within a second; `invalidate` after a local edit)."""

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from leadloop.reference import Reference
from nurture.sequences.domain import EntryRule, ExitReason, Sequence
from nurture.sequences.steps import BranchStep
from nurture.tables import sequences


@dataclass(frozen=True)
class Catalog:
    """Every stored sequence version, by (key, version)."""

    versions: Mapping[tuple[str, int], Sequence] = field(default_factory=dict)

    def live(self, rule: EntryRule) -> list[Sequence]:
        """The live version of every sequence that `rule` enrolls into."""
        return self._live.get(rule, [])

    @cached_property
    def _live(self) -> dict[EntryRule, list[Sequence]]:
        live: dict[EntryRule, list[Sequence]] = {}
        for sequence in self.versions.values():
            if sequence.active:
                live.setdefault(sequence.entry_rule, []).append(sequence)
        return live

    @cached_property
    def exit_rules(self) -> dict[tuple[str, int], list[ExitReason]]:
        """The exit conditions of every version (running enrollments finish on theirs)."""
        return {version: s.exit_on for version, s in self.versions.items()}

    def at_branch(self, key: str, version: int, step: int) -> bool:
        """Whether an enrollment of this version standing at `step` waits at a branch (what it
        does next may depend on what the lead does); True when the version or step is not
        known here, so that nothing waiting is missed."""
        sequence = self.versions.get((key, version))
        if sequence is None or not 0 <= step < len(sequence.steps):
            return True
        return isinstance(sequence.steps[step], BranchStep)

    def knows(self, versions: Iterable[tuple[str, int]]) -> bool:
        """Whether every one of these versions is held."""
        return all(v in self.versions for v in versions)


def _sequence_of(row: Any) -> Sequence:
    """A stored sequence row as the domain's Sequence."""
    values = dict(row._asdict())
    return Sequence.model_validate({**values.pop("settings"), **values})


async def _load(conn: AsyncConnection) -> Catalog:
    s = sequences.c
    rows = await conn.execute(select(s.key, s.version, s.entry_rule, s.steps, s.active,
                                     s.settings))
    return Catalog({(row.key, row.version): _sequence_of(row) for row in rows})


# Versions are immutable but for `active`: a new version changes the count, a pause or a
# resume changes which versions are live.
_VERSION = text("SELECT count(*), string_agg(key || '/' || version, ',' ORDER BY key, version) "
                "FILTER (WHERE active) FROM sequences")


async def _version(conn: AsyncConnection) -> tuple[Any, ...]:
    return tuple((await conn.execute(_VERSION)).one())


_BY_ENGINE: "weakref.WeakKeyDictionary[AsyncEngine, Reference[Catalog]]" = \
    weakref.WeakKeyDictionary()


async def current(conn: AsyncConnection, needed: Iterable[tuple[str, int]] = ()) -> Catalog:
    """The catalog of the database `conn` is on; loaded afresh if it lacks a needed version
    (created on another replica within the last second)."""
    reference = _BY_ENGINE.get(conn.engine)
    if reference is None:
        reference = _BY_ENGINE.setdefault(conn.engine, Reference(_load, _version))
    catalog = await reference.get(conn)
    wanted = list(needed)
    if not catalog.knows(wanted):
        reference.invalidate()
        catalog = await reference.get(conn)
    return catalog


def invalidate() -> None:
    """After a sequence was added, paused or resumed here: read them afresh on next use."""
    for reference in list(_BY_ENGINE.values()):
        reference.invalidate()

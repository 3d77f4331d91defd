"""Timeline use case: an entry per event on its lead's timeline."""

from collections.abc import Sequence

from leadloop.db import UnitOfWork
from leadloop.events.models import EventData
from leadloop.handlers import Item
from outcomes.timeline import repository
from outcomes.timeline.domain import timeline_rows


async def apply_timeline(uow: UnitOfWork, items: Sequence[Item[EventData]]) -> None:
    """Add an entry per event to its lead's timeline; one statement whatever the batch's size."""
    await repository.save_timeline(await uow.driver(), timeline_rows(items))

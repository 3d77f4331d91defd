"""Batch handlers and the typed registry that dispatches a consumed batch to them.

A consumer's unit of work is a batch, not an event. A handler takes every event of its classes
in the batch at once: it loads the state they need (one query per table), decides in pure code
(per lead, in event order) and writes what changed (one set-based statement per table), so its
statement count does not grow with the batch.

The registry is typed by event class: `@handlers.handles` reads the class (or union of classes)
from the handler's `Batch[...]` annotation, so mypy checks the handler's body against exactly the
events it will get, and an annotation naming no known event fails at import, not at run time.

Order: events of one lead are applied in the order they were consumed. The runner cuts a batch
into steps; within a step each lead's events go to one handler, and a lead moves to the next
step whenever its next event belongs to another handler. Most batches are one or two steps.
"""

import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args, get_origin
from uuid import UUID

from leadloop.db import UnitOfWork
from leadloop.events import EVENT_TYPES, CloudEvent, EventData
from leadloop.pii import PERSONAL_FIELDS
from leadloop.settings import ServiceSettings

E = TypeVar("E", bound=EventData, covariant=True)
S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True, slots=True)
class Item(Generic[E]):
    """One consumed event: its data model and its envelope (id, subject, trace)."""

    event: E
    envelope: CloudEvent


class Batch(Generic[E]):
    """The events one handler applies in one transaction, in consumption order."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[Item[E]]) -> None:
        self.items: tuple[Item[E], ...] = tuple(items)

    def __iter__(self) -> Iterator[Item[E]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def events(self) -> list[E]:
        """The events' data, in order."""
        return [item.event for item in self.items]

    @property
    def lead_ids(self) -> list[UUID]:
        """Every lead the batch is about, each once, in order of first appearance."""
        return list(dict.fromkeys(
            lead_id for item in self.items
            if isinstance(lead_id := getattr(item.event, "lead_id", None), UUID)))

    def by_lead(self) -> dict[UUID, list[Item[E]]]:
        """The items grouped by lead, each lead's in order."""
        grouped: dict[UUID, list[Item[E]]] = {}
        for item in self.items:
            grouped.setdefault(item.event.lead_id, []).append(item)  # type: ignore[attr-defined]
        return grouped


BatchHandler = Callable[[UnitOfWork, Batch[Any]], Awaitable[None]]
"""Applies a batch's effects through the unit of work; never commits (the runner does)."""

H = TypeVar("H", bound=Callable[..., Awaitable[None]])


def _type_of(event_class: type[EventData]) -> str:
    type_field = event_class.model_fields.get("type")
    event_type = type_field.default if type_field is not None else None
    if not isinstance(event_type, str) or EVENT_TYPES.get(event_type) is not event_class:
        raise TypeError(f"{event_class.__name__} is not a LeadLoop event")
    return str(event_type)


def _event_classes(handler: Callable[..., Any]) -> list[type[EventData]]:
    """The event classes named by the handler's `batch: Batch[...]` parameter."""
    hints = typing.get_type_hints(handler)
    batch_hints = [h for name, h in hints.items() if name != "return" and get_origin(h) is Batch]
    if len(batch_hints) != 1:
        raise TypeError(f"{handler.__qualname__} must take one parameter annotated Batch[Event]")
    (argument,) = get_args(batch_hints[0])
    classes = list(get_args(argument)) if get_origin(argument) in (typing.Union, types.UnionType) \
        else [argument]
    for event_class in classes:
        if not (isinstance(event_class, type) and issubclass(event_class, EventData)):
            raise TypeError(f"{handler.__qualname__}: {event_class!r} is not an event class")
    return classes


class Handlers:
    """A service's registry: which batch handler applies which event type."""

    def __init__(self) -> None:
        self._by_type: dict[str, BatchHandler] = {}
        self._without_personal_data: set[str] = set()
        self._personal_fields: dict[str, frozenset[str]] = {}
        self._wanted: dict[str, Callable[[dict[str, Any]], bool]] = {}
        self._settings: ServiceSettings | None = None

    def bind(self, settings: ServiceSettings) -> None:
        """Run with these settings (the app's: `create_service_app` binds them)."""
        self._settings = settings

    def settings(self, kind: type[S]) -> S:
        """The settings the handlers run with, as the service's own class, typed like
        `leadloop.app.settings_of`. Handlers applied outside an app (tests, tools) get the
        class's own, read from the environment once."""
        if self._settings is None:
            self._settings = kind()
        if not isinstance(self._settings, kind):
            raise TypeError(f"handlers bound to {type(self._settings).__name__}, "
                            f"not {kind.__name__}")
        return self._settings

    def handles(self, handler: H) -> H:
        """Register `handler` for the event class(es) of its `Batch[...]` annotation."""
        for event_class in _event_classes(handler):
            event_type = _type_of(event_class)
            if event_type in self._by_type:
                raise TypeError(f"{event_type} already has a handler "
                                f"({self._by_type[event_type].__qualname__})")
            self._by_type[event_type] = handler
        return handler

    def handles_without_personal_data(self, handler: H) -> H:
        """Register like `handles` a handler that reads none of its events' personal fields:
        the runner hands it the events with those fields empty, as an erased lead's read,
        without looking up the lead's key or decrypting anything."""
        self.handles(handler)
        self._without_personal_data.update(_type_of(c) for c in _event_classes(handler))
        return handler

    def reads_no_personal_data(self, *event_classes: type[EventData]) -> None:
        """Declare that the handlers of these (registered) event classes read none of their
        personal fields, as `handles_without_personal_data` does for a whole handler: for a
        handler that takes several types and needs personal fields of only some."""
        for event_class in event_classes:
            event_type = _type_of(event_class)
            if event_type not in self._by_type:
                raise TypeError(f"{event_type} has no handler")
            self._without_personal_data.add(event_type)

    def reads_personal_fields(self, event_class: type[EventData], *names: str) -> None:
        """Declare that the handler of this (registered) event class reads only these of its
        personal fields (names from `leadloop.pii.PERSONAL_FIELDS`): the runner decrypts just
        those, and the others read as empty, as an erased lead's do. The lead's key is still
        needed, so an erased lead's events are skipped as before."""
        event_type = _type_of(event_class)
        if event_type not in self._by_type:
            raise TypeError(f"{event_type} has no handler")
        unknown = sorted(set(names) - PERSONAL_FIELDS)
        if unknown:
            raise TypeError(f"not personal fields: {', '.join(unknown)}")
        self._personal_fields[event_type] = frozenset(names)

    def handles_where(self, wanted: Callable[[dict[str, Any]], bool]) -> Callable[[H], H]:
        """Register like `handles` a handler that acts on only some events of its types: the
        runner skips the others, as it skips types no handler takes, before decrypting or
        validating them. `wanted` gets an event's data as consumed (personal fields still
        sealed), so it may read only fields that are never personal."""
        def register(handler: H) -> H:
            self.handles(handler)
            for event_class in _event_classes(handler):
                self._wanted[_type_of(event_class)] = wanted
            return handler
        return register

    def wants(self, event_type: str, data: dict[str, Any]) -> bool:
        """Whether a handler takes this event (its type, and its `handles_where` filter)."""
        if event_type not in self._by_type:
            return False
        wanted = self._wanted.get(event_type)
        return wanted is None or wanted(data)

    def needs_personal_data(self, event_type: str) -> bool:
        """Whether the handler of `event_type` reads personal fields (see above)."""
        return event_type not in self._without_personal_data

    def personal_fields(self, event_type: str) -> frozenset[str] | None:
        """The personal fields the handler of `event_type` reads; None: any of them."""
        return self._personal_fields.get(event_type)

    @property
    def event_types(self) -> list[str]:
        """Every event type some handler takes, sorted (the AsyncAPI document lists these)."""
        return sorted(self._by_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def __bool__(self) -> bool:
        return bool(self._by_type)

    def handler_for(self, event_type: str) -> BatchHandler:
        """The handler of `event_type` (KeyError when none)."""
        return self._by_type[event_type]

    def plan(self, items: Sequence[Item[EventData]]) -> list[list[tuple[BatchHandler, Batch[Any]]]]:
        """Cut `items` (in consumption order) into steps of (handler, batch) that keep each
        lead's order: a lead's event joins the step of its previous one while the handler stays
        the same, and the next step when it changes."""
        steps: list[dict[BatchHandler, list[Item[EventData]]]] = []
        last: dict[str, tuple[int, BatchHandler]] = {}  # per lead: its latest step and handler
        for item in items:
            handler = self._by_type[item.envelope.type]
            lead = item.envelope.subject or item.envelope.id
            previous = last.get(lead)
            if previous is None:
                step = 0
            else:
                step = previous[0] if previous[1] is handler else previous[0] + 1
            last[lead] = (step, handler)
            while len(steps) <= step:
                steps.append({})
            steps[step].setdefault(handler, []).append(item)
        return [[(handler, Batch(group)) for handler, group in step.items()] for step in steps]

    async def apply(self, uow: UnitOfWork, items: Sequence[Item[EventData]]) -> None:
        """Apply `items` (in consumption order) through their handlers, step by step."""
        for step in self.plan(items):
            for handler, batch in step:
                await handler(uow, batch)

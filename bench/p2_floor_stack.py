"""P2's floor on the project's fixed stack: the same five minimal processes and durable hops as
bench/p2_floor.py, done with the parts LeadLoop is fixed on instead of the bare ones, so P2's
figure can be set against what that stack allows on this machine at all (as P1's second floor
does for capture behind FastAPI).

What changes against bench/p2_floor.py, and nothing else:
- capture is served behind the smallest FastAPI app (`p2_floor.fastapi_front`);
- each transaction is begun and committed by SQLAlchemy 2 async on one long-lived
  `AsyncConnection` per task, its statements sent as SQL text on the asyncpg connection under it
  (`leadloop.driver.driver_in_transaction`, as LeadLoop's hot statements are);
- events are the contract's pydantic models: capture publishes a `LeadCreated`, scoring reads it
  and publishes a `LeadQualified` (the lead's profile, consent, source and one score
  contribution), handoff reads that and publishes a `LeadHandedOff`; what they publish is sealed
  under the lead's key, as every LeadLoop event's personal fields are.
Still not done (so the floor is, if anything, low): everything bench/p2_floor.py leaves out.
The clock for the latency inside the pipeline travels in the envelope (`received_at`), outside
the event's data, which the models would drop.

    python -m bench.p2_floor_stack    # on a stack of its own (PostgreSQL, Kafka, capture's schema)
    python -m bench.p2_floor_stack --parts fastapi,sqlalchemy    # only some of the three parts,
                                                                 # to see what each one costs
"""

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bench import p2_floor
from bench.p2_floor import CREATED, KEYS, QUALIFIED, Stage, key_record
from leadloop.driver import driver_in_transaction
from leadloop.events.models import (
    LeadCreated,
    LeadHandedOff,
    LeadProfile,
    LeadQualified,
    RepRef,
    ScoreContribution,
)
from leadloop.pii import seal

PARTS = ("fastapi", "sqlalchemy", "models")


def parts_in_use() -> frozenset[str]:
    """The parts in use (all unless told), passed from the measuring process to the stages it
    starts in their environment."""
    return frozenset(os.environ.get("P2_FLOOR_STACK_PARTS", ",".join(PARTS)).split(","))


IN_USE = parts_in_use()
FLOOR_REP = RepRef(id=uuid.UUID(int=1), name="Floor Rep", email="rep@floor.test", team="floor")
NOT_PROFILE = ("consent", "source", "received_at")  # LeadIn's fields that are not the profile


class AlchemyConnection:
    """A SQLAlchemy AsyncConnection used the way the floor's stages use an asyncpg connection:
    `transaction()` begins and commits through SQLAlchemy, `fetch` and `execute` go to the
    driver under it inside that transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._driver: asyncpg.Connection | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        async with self._connection.begin():
            self._driver = await driver_in_transaction(self._connection)
            try:
                yield
            finally:
                self._driver = None

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._on_driver("fetch", query, *args)
        return rows

    async def execute(self, query: str, *args: Any) -> str:
        status: str = await self._on_driver("execute", query, *args)
        return status

    async def _on_driver(self, method: str, query: str, *args: Any) -> Any:
        if self._driver is None:  # outside a transaction: in one of its own
            async with self.transaction():
                return await self._on_driver(method, query, *args)
        return await getattr(self._driver, method)(query, *args)

    async def close(self) -> None:
        await self._connection.close()


class FixedStackStage(Stage):
    """A floor stage on SQLAlchemy and the contract's event models (see the module's text)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.keys: dict[str, bytes] = {}  # lead id -> data key, as read by `opened`

    async def connect(self) -> Any:
        if "sqlalchemy" not in IN_USE:
            return await super().connect()
        engine = create_async_engine(
            self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=1,
            connect_args={"server_settings": {"search_path": f"{self.FLOOR}_{self.service}"}})
        return AlchemyConnection(await engine.connect())

    async def keys_of(self, conn: Any, lead_ids: list[str]) -> dict[str, bytes]:
        """As the bare floor's, remembering the keys: what the stage publishes is sealed."""
        keys = await super().keys_of(conn, lead_ids)
        self.keys.update(keys)
        return keys

    def reactions(self, events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """Scoring's lead.qualified for each lead.created, handoff's lead.handed_off for each
        lead.qualified: the models read, built and dumped, sealed under the lead's key."""
        if "models" not in IN_USE:
            return super().reactions(events)
        now = datetime.now(UTC)
        out = []
        for e in events:
            if self.service == "scoring" and e["type"] == CREATED:
                made: Any = qualified(LeadCreated.model_validate(e["data"]), now)
            elif self.service == "handoff" and e["type"] == QUALIFIED:
                made = handed_off(LeadQualified.model_validate(e["data"]), now)
            else:
                continue
            out.append((self.topic(self.service), self.envelope(made, e["received_at"])))
        return out

    def envelope(self, made: Any, received_at: float) -> dict[str, Any]:
        """`made` (an event model) as the floor's envelope, sealed when the lead's key is
        known, the pipeline's clock beside its data."""
        lead_id = str(made.lead_id)
        data = made.model_dump(mode="json")
        key = self.keys.get(lead_id)
        return {"id": str(uuid.uuid4()), "type": made.type, "lead_id": lead_id,
                "data": seal(data, lead_id, key) if key else data, "received_at": received_at}

    def created(self, lead_id: str, lead: dict[str, Any], key: bytes
                ) -> list[tuple[str, dict[str, Any]]]:
        """Capture's outbox rows for a new lead: its key's record, then its LeadCreated."""
        if "models" not in IN_USE:
            return super().created(lead_id, lead, key)
        self.keys[lead_id] = key
        event = LeadCreated(
            lead_id=uuid.UUID(lead_id), created_at=datetime.now(UTC),
            profile=LeadProfile.model_validate(
                {k: v for k, v in lead.items() if k not in NOT_PROFILE}),
            consent=lead["consent"], source=lead["source"])
        return [(self.topic(KEYS), key_record(lead_id, key)),
                (self.topic("capture"), self.envelope(event, lead["received_at"]))]


def qualified(lead: LeadCreated, now: datetime) -> LeadQualified:
    """Scoring's decision for the floor, kept as trivial as the bare floor's."""
    size = lead.profile.company_size or 0
    score = 60 + 40 * (size >= 100)
    return LeadQualified(
        lead_id=lead.lead_id, score=score, grade="A" if score >= 100 else "B", model_version=1,
        contributions=[ScoreContribution(rule_id="fit.company_size", points=score,
                                         reason="company size", model_version=1)],
        profile=lead.profile, consent=lead.consent, source=lead.source, qualified_at=now,
        lead_created_at=lead.created_at)


def handed_off(lead: LeadQualified, now: datetime) -> LeadHandedOff:
    """Handoff's decision for the floor: always the one rep."""
    return LeadHandedOff(
        lead_id=lead.lead_id, assignment_id=uuid.uuid4(), rep=FLOOR_REP, routing_rule="floor",
        routing_reason="the floor's one rep", profile=lead.profile, consent=lead.consent,
        score=lead.score, grade=lead.grade, contributions=lead.contributions,
        source=lead.source, recent_activities=lead.recent_activities,
        qualified_at=lead.qualified_at, handed_off_at=now)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("--"):  # a stage's process
        p2_floor.serve(FixedStackStage, *sys.argv[1:],
                       front="fastapi" if "fastapi" in IN_USE else "asgi")
    else:
        if "--parts" in sys.argv:  # a comma-separated list of PARTS, "all" or "none"
            parts = sys.argv[sys.argv.index("--parts") + 1]
            os.environ["P2_FLOOR_STACK_PARTS"] = {"all": ",".join(PARTS), "none": ""}.get(
                parts, parts)
        result = asyncio.run(p2_floor.on_own_stack(module="bench.p2_floor_stack"))
        print(orjson.dumps(result | {"parts": sorted(parts_in_use() & set(PARTS)),
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                           option=orjson.OPT_INDENT_2).decode())

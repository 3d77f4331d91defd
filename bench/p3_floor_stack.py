"""P3's floor on the project's fixed stack: bench/p3_floor.py's five processes and durable work
per lead, with the parts LeadLoop is fixed on, as bench/p2_floor_stack.py does for P2:
- capture behind the smallest FastAPI app (`p2_floor.fastapi_front`);
- each transaction begun and committed by SQLAlchemy 2 async, statements on its driver;
- every event a stage consumes of a type its service handles read into the contract's pydantic
  model (`leadloop.events.models.parse_event`, as the consumer runner decodes), and every event
  it publishes built as that model: lead.created, lead.scored, lead.qualified, lead.handed_off
  and lead.stage_changed, sealed under the lead's key, then padded to the size LeadLoop's
  measured (FOOTPRINT_EVENTS), as the bare floor pads its placeholders.
Still not done (so the floor is, if anything, high): everything bench/p3_floor.py leaves out.

    python -m bench.p3_floor_stack    # on a stack of its own (services stopped once migrated)
"""

import asyncio
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from bench import p2_floor, p3_floor
from bench.p2_floor import CREATED, HANDED_OFF, QUALIFIED
from bench.p2_floor_stack import FixedStackStage, handed_off, qualified
from bench.p3_floor import P3Stage
from leadloop.events.models import EventData, LeadScored, LeadStageChanged, parse_event

SCORED, STAGE_CHANGED = "leadloop.lead.scored.v1", "leadloop.lead.stage_changed.v1"


class P3StackStage(P3Stage, FixedStackStage):
    """P3's floor stage on SQLAlchemy (FixedStackStage's connection) and the event models."""

    async def state(self, conn: Any, events: list[dict[str, Any]]) -> None:
        """Each consumed event read into its model first, then P3's footprint rows."""
        self.read = {e["id"]: parse_event(e["type"], e["data"]) for e in events}
        await super().state(conn, events)

    def made(self, kind: str, trigger: dict[str, Any]) -> dict[str, Any]:
        """The event of type `kind` that the trigger causes, as its model, sealed."""
        cause, now = self.read[trigger["id"]], datetime.now(UTC)
        return self.envelope(_made(kind, cause, now), trigger.get("received_at", 0.0))


def _made(kind: str, cause: Any, now: datetime) -> EventData:
    """What scoring, handoff and outcomes publish for a lead in P3 (`cause`: the trigger's
    model), kept as trivial as the bare floor's decisions."""
    if kind == QUALIFIED:
        return qualified(cause, now)
    if kind == HANDED_OFF:
        return handed_off(cause, now)
    lead_id: uuid.UUID = cause.lead_id
    if kind == SCORED:
        made = qualified(cause, now)
        return LeadScored(lead_id=lead_id, score=made.score, fit_score=made.score,
                          engagement_score=0, grade=made.grade, model_version=1, is_mql=True,
                          contributions=made.contributions, scored_at=now)
    if kind == STAGE_CHANGED:
        return LeadStageChanged(lead_id=lead_id, stage="lead", cause=CREATED, changed_at=now)
    raise ValueError(f"the floor does not make {kind}")


if __name__ == "__main__":
    if len(sys.argv) > 2:  # a stage's process
        p2_floor.serve(P3StackStage, *sys.argv[1:])
    else:
        print(orjson.dumps(asyncio.run(p3_floor.on_own_stack(
            False, "fastapi", module="bench.p3_floor_stack")), option=orjson.OPT_INDENT_2).decode())

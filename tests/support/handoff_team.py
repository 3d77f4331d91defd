"""A handoff database ready to route: reps in the default team and a webhook subscriber."""

from sqlalchemy.ext.asyncio import AsyncEngine

from handoff.reps import service as rep_service
from handoff.reps.schemas import RepIn
from handoff.webhooks import service as webhook_admin
from handoff.webhooks.schemas import SubscriberIn
from leadloop.db import UnitOfWork


async def reps_and_a_subscriber(engine: AsyncEngine, capacity: int,
                                names: tuple[str, ...] = ("ann", "bob")) -> None:
    """`names` as reps of the default team, each with room for `capacity` leads, and a
    subscriber for every event (at an address nothing answers: deliveries stay queued)."""
    for name in names:
        async with UnitOfWork(engine, "handoff") as uow:
            await rep_service.create_rep(uow, RepIn(  # type: ignore[call-arg]
                name=name, email=f"{name}@sales.example", team="default", capacity=capacity))
            await uow.commit()
    async with UnitOfWork(engine, "handoff") as uow:
        await webhook_admin.create_subscriber(uow, SubscriberIn(
            name="crm", url="http://127.0.0.1:9/hook"))  # type: ignore[arg-type]
        await uow.commit()

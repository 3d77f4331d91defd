"""Erasing a person (GDPR art. 17): what capture holds is deleted, the person's data key is
destroyed (every copy of their personal data in events, in Kafka and in any outbox, becomes
unreadable), and lead.erased tells every other service to delete or anonymize its own copy."""

from uuid import UUID

from capture.privacy import repository
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadErased, event_time_now
from leadloop.events.topology import KEY_OWNER
from leadloop.keyring import is_shredded, shred_keys


async def erase_person(uow: UnitOfWork, lead_id: UUID) -> bool:
    """Erase the person this lead (or a duplicate merged into it) is, and commit; True also
    when they were erased before (nothing changes), False when no such lead was ever known."""
    async with uow:
        lead_ids = await repository.person_lead_ids(uow.connection, lead_id)
        if not lead_ids:
            return await is_shredded(uow.connection, str(lead_id))
        emails = await repository.person_emails(uow.connection, lead_ids)
        await repository.delete_person(uow.connection, lead_ids, emails)
        await shred_keys(uow.connection, [str(i) for i in lead_ids], KEY_OWNER)
        now = event_time_now()
        for erased_id in lead_ids:
            uow.publish(LeadErased(lead_id=erased_id, erased_at=now))
        await uow.commit()
    return True

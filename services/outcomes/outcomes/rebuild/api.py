"""POST /v1/read-model/rebuild (admin): rebuild the read model beside the running service."""

from fastapi import APIRouter, Depends

from leadloop.app import Runtime, get_runtime, settings_of
from leadloop.auth import require_scope
from outcomes.config import OutcomesSettings
from outcomes.rebuild.schemas import RebuildOut
from outcomes.rebuild.service import rebuild_beside_the_service

router = APIRouter(prefix="/v1", tags=["reports"])


@router.post("/read-model/rebuild", response_model=RebuildOut,
             dependencies=[Depends(require_scope("admin"))])
async def rebuild(runtime: Runtime = Depends(get_runtime)) -> RebuildOut:
    """Rebuild the funnel read model from the Kafka history into fresh tables and swap them
    in: reports keep answering (with the old numbers) until the swap."""
    settings = settings_of(runtime, OutcomesSettings)
    result = await rebuild_beside_the_service(settings.database_url, settings.kafka,
                                              settings.database_tls)
    return RebuildOut(events=result.events, leads=result.leads, seconds=result.seconds)

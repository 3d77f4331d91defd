"""Nurture's app: `uvicorn nurture.main:app`."""

from fastapi import FastAPI

from leadloop.app import create_service_app
from nurture.config import NurtureSettings
from nurture.content.api import router as templates_router
from nurture.handlers import HANDLERS
from nurture.inbound.api import router as inbound_router
from nurture.leads.api import router as leads_router
from nurture.privacy.api import router as export_router
from nurture.sending.worker import run_scheduler
from nurture.sequences.api import router as sequences_router
from nurture.tracking.api import router as public_router
from nurture.tracking.worker import housekeeping


def create_app(settings: NurtureSettings) -> FastAPI:
    """Nurture's app; it refuses to start (the lifespan raises) with unsafe signing secrets."""
    return create_service_app(
        settings=settings,
        routers=[leads_router, sequences_router, templates_router, inbound_router, public_router,
                 export_router],
        handlers=HANDLERS,
        workers=[run_scheduler, housekeeping],
        # Operation ids whose function name reads badly as one (leadloop.openapi).
        operation_ids={"post_reply": "recordReply", "post_bounce": "recordBounce",
                       "save_template_version": "createTemplateVersion",
                       "preview_template": "renderTemplatePreview",
                       "test_send_template": "sendTemplateTest"},
        description="Sequences for leads that are not sales-ready yet, with templates "
        "marketers write: email over SMTP and signed webhook channels (SMS, voice, fax, direct "
        "mail), guarded by consent, suppression, frequency caps and quiet hours; "
        "they stop the moment a lead is qualified, handed off, unsubscribed or its deal closes.",
    )


app = create_app(NurtureSettings())

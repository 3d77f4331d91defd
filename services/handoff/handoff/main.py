"""Handoff's app: `uvicorn handoff.main:app`."""

from handoff.api import router
from handoff.config import get_settings
from handoff.handlers import HANDLERS
from leadloop.app import create_service_app

app = create_service_app(
    settings=get_settings(),
    routers=[router],
    handlers=HANDLERS,
    description="Routes qualified leads to sales reps by weighted round-robin; lead.handed_off, "
    "lead.accepted, lead.rejected and lead.contacted out.",
)

"""Nurture's app: `uvicorn nurture.main:app`."""

from leadloop.app import create_service_app
from nurture.api import router
from nurture.config import NurtureSettings
from nurture.handlers import HANDLERS

app = create_service_app(
    settings=NurtureSettings(),
    routers=[router],
    handlers=HANDLERS,
    description="Sequences for leads that are not sales-ready yet; they stop the moment a lead "
    "is qualified, handed off or disqualified.",
)

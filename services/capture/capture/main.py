"""Capture's app: `uvicorn capture.main:app`."""

from capture.api import router
from capture.config import CaptureSettings
from leadloop.app import create_service_app

app = create_service_app(
    settings=CaptureSettings(),
    routers=[router],
    description="Web forms, lists and tracking in; lead.created, lead.updated and "
    "lead.activity out.",
)

"""Outcomes' app: `uvicorn outcomes.main:app`."""

from leadloop.app import create_service_app
from outcomes.api import router
from outcomes.config import OutcomesSettings
from outcomes.handlers import HANDLERS

app = create_service_app(
    settings=OutcomesSettings(),
    routers=[router],
    handlers=HANDLERS,
    description="Deals from sales tools in; deal.opened and deal.closed out; the closed-loop "
    "funnel built from every event.",
)

"""Scoring's app: `uvicorn scoring.main:app`."""

from leadloop.app import create_service_app
from scoring.api import router
from scoring.config import ScoringSettings
from scoring.handlers import HANDLERS

app = create_service_app(
    settings=ScoringSettings(),
    routers=[router],
    handlers=HANDLERS,
    description="Versioned, explainable lead scores: lead.created, lead.updated and "
    "lead.activity in; lead.scored, lead.qualified and lead.disqualified out.",
)

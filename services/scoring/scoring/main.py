"""Scoring's app: `uvicorn scoring.main:app`."""

from leadloop.app import create_service_app
from scoring.config import ScoringSettings
from scoring.handlers import HANDLERS
from scoring.models.api import router as model_router
from scoring.privacy.api import router as export_router
from scoring.rescore.worker import rescore_worker, training_worker
from scoring.scores.api import router

app = create_service_app(
    settings=ScoringSettings(),
    routers=[router, model_router, export_router],
    handlers=HANDLERS,
    workers=[rescore_worker, training_worker],
    # Operation ids of the routes whose function name is not a verb phrase (leadloop.openapi).
    operation_ids={"rescore_progress": "getRescoreProgress",
                   "get_evaluation": "getModelEvaluation"},
    description="Versioned, explainable lead scores: lead.created, lead.updated, lead.activity, "
    "lead.merged/unmerged, lead.rejected and deal.closed in; lead.scored, lead.qualified and "
    "lead.disqualified out. Admin: model versions (create, diff, activate, re-score), training "
    "and evaluation on closed deals, backtests.",
)

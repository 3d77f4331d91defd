"""Scoring's app: `uvicorn scoring.main:app`.

Where things live: handlers.py (what each consumed event does), then a folder per feature:
leads/ (the copy of each lead, rescored on every event), scores/ (the score API), models/
(versions, activation, re-score jobs), learning/ (outcomes, training, backtests), rules/ (the
rules as data and the scorer), privacy/ (GDPR export). See services/scoring/README.md.
"""

from leadloop.app import create_service_app
from scoring.config import ScoringSettings
from scoring.handlers import HANDLERS
from scoring.leads.kept import YOUNG_GENERATION
from scoring.learning.worker import training_worker
from scoring.models.api import router as models_router
from scoring.models.worker import rescore_worker
from scoring.privacy.api import router as privacy_router
from scoring.scores.api import router as scores_router

app = create_service_app(
    settings=ScoringSettings(),
    routers=[scores_router, models_router, privacy_router],
    handlers=HANDLERS,
    workers=[rescore_worker, training_worker],
    young_generation=YOUNG_GENERATION,  # see leads/kept.py
    # Operation ids of the routes whose function name is not a verb phrase (leadloop.openapi).
    operation_ids={"rescore_progress": "getRescoreProgress",
                   "get_evaluation": "getModelEvaluation"},
    description="Versioned, explainable lead scores: lead.created, lead.updated, lead.activity, "
    "lead.merged/unmerged, lead.rejected and deal.closed in; lead.scored, lead.qualified and "
    "lead.disqualified out. Admin: model versions (create, diff, activate, re-score), training "
    "and evaluation on closed deals, backtests.",
)

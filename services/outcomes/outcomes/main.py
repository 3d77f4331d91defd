"""Outcomes' app: `uvicorn outcomes.main:app`."""

from leadloop.app import create_service_app
from outcomes.accounts.api import router as accounts_router
from outcomes.closures.api import router as closures_router
from outcomes.config import OutcomesSettings
from outcomes.dashboard.api import router as dashboard_router
from outcomes.deals.api import router as deals_router
from outcomes.digest.api import router as digests_router
from outcomes.digest.worker import run_digests
from outcomes.funnel.api import router as funnel_router
from outcomes.handlers import HANDLERS
from outcomes.lifecycle.api import router as lifecycle_router
from outcomes.privacy.api import router as export_router
from outcomes.rebuild.api import router as rebuild_router
from outcomes.reports.api import router as reports_router
from outcomes.timeline.api import router as timeline_router

app = create_service_app(
    settings=OutcomesSettings(),
    routers=[deals_router, funnel_router, closures_router, reports_router, rebuild_router,
             accounts_router, digests_router,
             timeline_router, lifecycle_router, dashboard_router, export_router],
    handlers=HANDLERS,
    workers=[run_digests],
    # Operation ids of the routes whose function name is not a verb phrase (leadloop.openapi).
    operation_ids={
        "funnel_report": "getFunnelReport", "speed_to_lead_report": "getSpeedToLeadReport",
        "markets_report": "getMarketsReport", "attribution_report": "getAttributionReport",
        "score_calibration_report": "getScoreCalibrationReport",
        "rejection_report": "getRejectionReport", "latest_digest": "getLatestDigest",
        "repeat_customers_report": "getRepeatCustomersReport",
        "rebuild": "rebuildReadModel", "add_recipient": "createDigestRecipient",
        "remove_recipient": "deleteDigestRecipient", "lead_timeline": "getLeadTimeline"},
    description="Deals from sales tools in; deal.opened and deal.closed out; the closed-loop "
    "funnel, speed to lead, attribution, score calibration, rejections, market breakdowns, "
    "repeat customers and account rollups, "
    "built from every event; each lead's timeline; a periodic digest by email; a dashboard at "
    "/dashboard.",
)

"""Handoff's app: `uvicorn handoff.main:app`."""

from handoff.assignments.api import router as assignments_router
from handoff.config import HandoffSettings
from handoff.customers.api import router as accounts_router
from handoff.handlers import HANDLERS
from handoff.keys.api import router as rep_keys_router
from handoff.keys.service import resolve_rep_key
from handoff.privacy.api import router as export_router
from handoff.queue.worker import run_queue_drain
from handoff.reps.api import router as reps_router
from handoff.rules.api import router as rules_router
from handoff.sales.api import router as sales_page_router
from handoff.sla.worker import run_sla_timers
from handoff.webhooks.api import router as webhooks_router
from handoff.webhooks.worker import run_webhooks
from leadloop.app import create_service_app

app = create_service_app(
    settings=HandoffSettings(),
    routers=[reps_router, assignments_router, rules_router, webhooks_router, accounts_router,
             rep_keys_router, sales_page_router, export_router],
    handlers=HANDLERS,
    workers=[run_sla_timers, run_webhooks, run_queue_drain],
    # Operation ids of the routes whose function name is not a verb phrase (leadloop.openapi).
    operation_ids={
        "who_am_i": "getViewer", "rep_queue": "getRepQueue", "fallback_queue": "getFallbackQueue",
        "lead_assignment": "getLeadAssignment", "accept": "acceptAssignment",
        "reject": "rejectAssignment", "contacted": "recordAssignmentContacted",
        "converted": "recordAssignmentConverted", "rule_versions": "listRuleVersions",
        "delivery_log": "listWebhookDeliveries", "rotate_secret": "rotateWebhookSecret"},
    description="Routes qualified leads to sales reps (named accounts, versioned rules, weighted "
    "round-robin), holds them to an accept SLA, and delivers lead.handed_off, lead.accepted, "
    "lead.rejected, lead.contacted and lead.sla_breached to Kafka and signed webhooks. The sales "
    "page is at /sales.",
)
# Keys bound to reps are minted at run time (POST /v1/reps/{id}/keys) and live in the database.
app.state.key_resolver = resolve_rep_key

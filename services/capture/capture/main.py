"""Capture's app: `uvicorn capture.main:app`. Wiring only: each feature's router, the event
handlers (capture.handlers) and the background workers; see the service's README."""

from capture.activities.api import OPENAPI_MODELS as ACTIVITY_MODELS
from capture.activities.api import router as activities_router
from capture.config import CaptureSettings
from capture.consent.api import router as consent_router
from capture.consent.worker import send_confirmations
from capture.forms.api import router as forms_router
from capture.handlers import HANDLERS
from capture.housekeeping.worker import housekeeping
from capture.imports.api import router as imports_router
from capture.imports.worker import resume_imports
from capture.leads.api import router as leads_router
from capture.merges.api import router as merges_router
from capture.privacy.api import router as privacy_router
from capture.submissions.api import router as submissions_router
from leadloop.app import create_service_app

app = create_service_app(
    settings=CaptureSettings(),
    routers=[leads_router, activities_router, forms_router, submissions_router, imports_router,
             merges_router, privacy_router, consent_router],
    handlers=HANDLERS,
    workers=[resume_imports, housekeeping, send_confirmations],
    # The CSV import streams its body to disk and enforces import_max_bytes itself.
    large_body_paths=[r"/v1/imports"],
    # Operation ids of the routes whose function name is not a verb phrase (leadloop.openapi).
    operation_ids={"lead_timeline": "listLeadActivities", "submit": "submitForm",
                   "track": "trackFormActivity", "confirm_consent": "recordConsentConfirmation"},
    openapi_models=ACTIVITY_MODELS,  # POST /v1/activities declares its body by hand
    rate_limited=[("POST", "/v1/forms/{form_id}/submissions"),
                  ("POST", "/v1/forms/{form_id}/activities"),
                  ("GET", "/v1/consent-confirmations/{token}")],
    description="Web forms, lists and tracking in; lead.created, lead.updated, lead.activity, "
    "lead.consent_changed, lead.merged, lead.unmerged and lead.erased out; nurture's "
    "lead.unsubscribed in (capture owns consent); double opt-in; GDPR erasure and export.",
)

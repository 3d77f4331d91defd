"""The baseline for bench/capture_requests.py: a bare FastAPI endpoint with capture's model."""

import uuid

from fastapi import FastAPI

from capture.leads.schemas import LeadAccepted
from capture.leads.validation import LeadIn

app = FastAPI()


@app.post("/v1/leads", response_model=LeadAccepted, status_code=201)
async def post_lead(lead: LeadIn) -> LeadAccepted:
    """Validate and normalize like capture, store nothing."""
    return LeadAccepted(lead_id=uuid.uuid4(), status="created")

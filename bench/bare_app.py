"""P1's baseline: a bare FastAPI endpoint validating capture's own LeadIn, storing nothing.

    uvicorn bench.bare_app:app --workers 1 --loop uvloop --http httptools
"""

import uuid

from fastapi import FastAPI

from capture.leads.schemas import LeadAccepted
from capture.leads.validation import LeadIn

app = FastAPI()


@app.post("/v1/leads", response_model=LeadAccepted, status_code=201)
async def post_lead(lead: LeadIn) -> LeadAccepted:
    """Validate and normalize the lead exactly as capture does, then answer like capture."""
    return LeadAccepted(lead_id=uuid.uuid4(), status="created")

"""Handoff's speed-to-lead metrics (Prometheus): created to handed off, handed off to first
contact."""

from prometheus_client import Histogram

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600,
            24 * 3600, 7 * 24 * 3600)

CREATED_TO_HANDED_OFF = Histogram(
    "leadloop_handoff_created_to_handed_off_seconds",
    "From lead.created (capture) to the first lead.handed_off to a rep or the queue.",
    buckets=_BUCKETS)
HANDED_OFF_TO_CONTACT = Histogram(
    "leadloop_handoff_handed_off_to_first_contact_seconds",
    "From a lead's hand-off to the rep's first recorded contact.",
    buckets=_BUCKETS)

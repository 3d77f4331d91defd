"""LeadLoop handoff service."""

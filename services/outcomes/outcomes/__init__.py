"""LeadLoop outcomes service."""

"""LeadLoop nurture service."""

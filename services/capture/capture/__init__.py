"""LeadLoop capture service."""

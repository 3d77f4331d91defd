"""LeadLoop's shared package: one place for what every service does the same way."""

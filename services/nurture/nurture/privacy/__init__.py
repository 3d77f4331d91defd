"""Nurture's part of a GDPR export."""

"""Idempotency-Key: a retried POST gets the first answer and creates nothing new."""

"""Sending: the step scheduler, the guards before every send, email and webhook channels."""

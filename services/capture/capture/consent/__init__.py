"""Consent: changes from outside a request (unsubscribes) and double opt-in."""

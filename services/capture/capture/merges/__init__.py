"""Merges: folding a duplicate lead into another, and undoing it."""

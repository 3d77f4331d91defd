"""Bulk import: a CSV stored before the 202, then applied chunk by chunk by a worker."""

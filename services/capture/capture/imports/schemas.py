"""HTTP models of bulk import."""

from capture.imports.domain import ImportProgress


class ImportOut(ImportProgress):
    """An import's progress: counts so far and the first per-row errors."""

"""Sequences: versions marketers save (steps, segment, exits, guards), held in memory for
the consumer and the scheduler."""

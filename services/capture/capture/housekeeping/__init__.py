"""Periodic purges of what capture keeps only for a while."""

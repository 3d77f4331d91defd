"""Leads: POST /v1/leads, reading and searching leads, the rules that normalize and merge them."""

"""Each lead's owner and qualification state, kept from scoring's and handoff's events."""

"""Form submissions: public posts and API clients, spam checks, the embed script, tracking."""

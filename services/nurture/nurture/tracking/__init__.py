"""The public routes emails link to: open pixel, click redirect, unsubscribe."""

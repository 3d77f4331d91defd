"""`python -m outcomes.rebuild`: rebuild the read model (outcomes.rebuild.service)."""

from outcomes.rebuild.service import main

main()

"""The digest's inputs: the reports of a window, through the report endpoints' own use cases."""

from datetime import datetime

from leadloop.db import UnitOfWork
from outcomes.accounts.service import accounts
from outcomes.digest.domain import DigestInputs
from outcomes.funnel.domain import Stage
from outcomes.reports import domain as reports
from outcomes.reports.markets import parse_market_by
from outcomes.reports.repeat import RepeatBy
from outcomes.reports.service import (
    funnel_breakdown,
    markets,
    rejections,
    repeat_customers,
    speed_to_lead,
)


async def digest_inputs(uow: UnitOfWork, start: datetime, end: datetime) -> DigestInputs:
    """The reports a digest is composed from, through the same functions the report endpoints
    call for the window [start, end): the digest's numbers are theirs."""
    [funnel] = await funnel_breakdown(uow, start, end, None, reports.Period.week)
    return DigestInputs(
        funnel=funnel, speed=await speed_to_lead(uow, start, end),
        rejections=await rejections(uow, start, end, reports.Period.week),
        by_source=await markets(uow, start, end, parse_market_by("source"), Stage.won),
        by_market=await markets(uow, start, end, parse_market_by("country"), Stage.won),
        repeat=await repeat_customers(uow, start, end, RepeatBy.campaign, None),
        accounts=await accounts(uow, start, end, None),
    )

"""The dashboard at /dashboard: every report on one page, behind a login with an API key.

The login form takes a key with the reports:read scope and starts a session: the cookie holds
the session's id and expiry, signed with DASHBOARD_SESSION_SECRET (leadloop.page_sessions), and
nothing derived from the key. The session ends at its expiry (DASHBOARD_SESSION_S), at sign-out
(its row is deleted, so a copied cookie dies too), or when its key loses the scope or is
removed. A script can skip the form and send X-API-Key.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadloop import page_sessions as dashboard_session
from leadloop.app import runtime_of, settings_of, unit_of_work
from leadloop.auth import Principal, find_principal
from leadloop.db import UnitOfWork
from outcomes.accounts import service as accounts_service
from outcomes.config import OutcomesSettings
from outcomes.dashboard import render, repository
from outcomes.dashboard.render import PAGE_HEADERS
from outcomes.funnel.domain import Stage
from outcomes.reports import domain as reports
from outcomes.reports import repository as report_queries
from outcomes.reports import sales as sales_reports
from outcomes.reports import service
from outcomes.reports.attribution import AttributeBy, Model
from outcomes.reports.domain import GroupBy, Period
from outcomes.reports.markets import Dimension, MarketBy, market_breakdown
from outcomes.reports.repeat import RepeatBy, repeat_report
from outcomes.reports.window import day_bounds

router = APIRouter(tags=["dashboard"], include_in_schema=False)
COOKIE = "leadloop_dashboard"
SCOPE = "reports:read"


def _settings(request: Request) -> OutcomesSettings:
    return settings_of(runtime_of(request), OutcomesSettings)


def _secret(request: Request) -> bytes:
    settings = _settings(request)
    return dashboard_session.session_secret(settings.dashboard_session_secret,
                                            request.app.state,
                                            "LEADLOOP_OUTCOMES_DASHBOARD_SESSION_SECRET")


def _may_read(key_name: str, request: Request) -> bool:
    """Whether the key a session signed in with is still configured with the scope."""
    return any(record.name == key_name
               and Principal(name=record.name, scopes=frozenset(record.scopes)).has(SCOPE)
               for record in _settings(request).api_keys)


async def _signed_in(request: Request, uow: UnitOfWork) -> bool:
    """An X-API-Key with the scope, or a live session cookie of a key that still has it."""
    key = request.headers.get("x-api-key")
    if key:
        principal = find_principal(key, _settings(request).api_keys)
        return principal is not None and principal.has(SCOPE)
    now = datetime.now(UTC)
    cookie = dashboard_session.verify(_secret(request), request.cookies.get(COOKIE, ""), now)
    if cookie is None:
        return False
    key_name = await repository.dashboard_session_key(uow.connection, cookie.session_id, now)
    return key_name is not None and _may_read(key_name, request)


@router.get("/dashboard/login", response_class=HTMLResponse)
async def login_page() -> HTMLResponse:
    """The login form."""
    return HTMLResponse(render.login_page(None), headers=PAGE_HEADERS)


@router.post("/dashboard/login")
async def login(request: Request, api_key: Annotated[str, Form()],
                uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Check the key; on success start a session, set its cookie and go to the dashboard."""
    principal = find_principal(api_key.strip(), _settings(request).api_keys)
    if principal is None or not principal.has(SCOPE):
        return HTMLResponse(
            render.login_page("This key is unknown or lacks the reports:read scope."),
            status_code=status.HTTP_401_UNAUTHORIZED, headers=PAGE_HEADERS)
    now = datetime.now(UTC)
    lifetime = _settings(request).dashboard_session_s
    session_id, expires_at = uuid.uuid4(), now + timedelta(seconds=lifetime)
    async with uow:
        await repository.start_dashboard_session(uow.connection, session_id, principal.name,
                                                 expires_at, now)
        await uow.commit()
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(COOKIE, dashboard_session.sign(_secret(request), session_id, expires_at),
                        max_age=int(lifetime), httponly=True, samesite="strict",
                        path="/dashboard", secure=request.url.scheme == "https")
    return response


@router.post("/dashboard/logout")
async def logout(request: Request, uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """End the session for good (the cookie no longer opens the dashboard, even if copied)."""
    cookie = dashboard_session.verify(_secret(request), request.cookies.get(COOKIE, ""),
                                      datetime.now(UTC))
    if cookie is not None:
        async with uow:
            await repository.end_dashboard_session(uow.connection, cookie.session_id)
            await uow.commit()
    response = RedirectResponse("/dashboard/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/dashboard")
    return response


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    start: date | None = Query(default=None, alias="from"),
    end: date | None = Query(default=None, alias="to", description="inclusive"),
    model: Model = Query(default=Model.linear),
    by: AttributeBy = Query(default=AttributeBy.campaign),
    market: Dimension = Query(default=Dimension.country),
    repeat_by: RepeatBy = Query(default=RepeatBy.campaign),
    uow: UnitOfWork = Depends(unit_of_work),
) -> Response:
    """Markets, funnel, repeat customers, top accounts, conversion by source, speed to lead,
    win rate by response time, attribution, score calibration and rejection reasons for leads
    created in the period."""
    since, until = day_bounds(start, end)
    async with uow:
        if not await _signed_in(request, uow):
            return RedirectResponse("/dashboard/login", status_code=status.HTTP_303_SEE_OTHER)
        # One read of the period's leads feeds every lead report on the page.
        leads = await report_queries.lead_facts(uow.connection, since, until)
        report, currency, _currencies = await service.attribution(uow, since, until, model, by,
                                                                 None)
        rejections = await service.rejections(uow, since, until, Period.week)
        revenue = await report_queries.won_revenue(uow.connection, since, until)
        won = await report_queries.won_deals(uow.connection, since, until)
        accounts = await accounts_service.accounts(uow, since, until, None)
    [funnel] = reports.funnel_breakdown(leads, None)
    by_source = reports.funnel_breakdown(leads, GroupBy.source)
    speed = sales_reports.speed_to_lead(leads)
    calibration = sales_reports.score_calibration(leads)
    markets = market_breakdown(leads, revenue, MarketBy(dimension=market), Stage.won)
    repeat = repeat_report(leads, won, repeat_by)
    link = {k: v for k, v in {"from": start.isoformat() if start else "",
                              "to": end.isoformat() if end else "",
                              "model": model.value, "by": by.value,
                              "market": market.value,
                              "repeat_by": repeat_by.value}.items() if v}
    cards = [
        ("Funnel", "Leads per stage (conversion from the step before).",
         render.funnel_chart(funnel)),
        ("Markets", f"Win rate per {market.value.replace('_', ' ')} ranked, with n and the 95% "
         "interval; green or red only where the whole interval is above or below the average "
         f"({render.percent(markets.overall.win_rate)} of "
         f"{markets.overall.leads:,}). Fewer than {markets.min_sample} leads: grey.",
         render.market_table(markets, link)),
        ("Repeat customers", f"Customers (a won deal) per {repeat_by.value} who bought again, "
         "with the 95% interval; green or red only where the whole interval is above or below "
         f"all customers ({render.percent(repeat.overall.repeat_purchase_rate)} of "
         f"{repeat.overall.customers:,}). Fewer than {repeat.min_sample} customers: grey.",
         render.repeat_table(repeat, link)),
        ("Top accounts", "Companies (leads of one email domain; free mail is none) with the "
         "most won revenue: owner, contacts, deals, and revenue from first and repeat "
         f"purchases. Fewer than {accounts.min_sample} customers: grey.",
         render.accounts_table(accounts)),
        ("Conversion by source", "Share of each source's leads that became MQLs and deals won.",
         render.conversion_by_source_chart(by_source)),
        ("Speed to lead", f"Median created to handoff "
         f"{render.duration(speed.to_handoff.median_s)}; median handoff to first contact "
         f"{render.duration(speed.to_first_contact.median_s)} (p90 "
         f"{render.duration(speed.to_first_contact.p90_s)}); never contacted "
         f"{speed.never_contacted:,}.", render.speed_chart(speed)),
        ("Win rate by response time", "Won leads among those first contacted this fast.",
         render.win_rate_chart(speed)),
        ("Attribution", f"Won deals and revenue credited to each {by.value}, "
         f"{render.money(report.total_revenue_minor, currency)} in total.",
         render.attribution_table(report, currency, link)),
        ("Score calibration", "Win rate per score band, then MQLs vs the rest.",
         render.calibration_charts(calibration)),
        ("Rejection reasons", f"{rejections.total:,} leads rejected by sales in the period.",
         render.rejection_chart(rejections)),
    ]
    summary = (f"{funnel.counts['lead']:,} leads, {funnel.counts['mql']:,} MQLs, "
               f"{funnel.counts['won']:,} won")
    return HTMLResponse(render.dashboard_page(cards, summary, start, end,
                                              datetime.now(UTC).date(), link),
                        headers=PAGE_HEADERS)

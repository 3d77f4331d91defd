"""The dashboard at /dashboard: every report on one page, behind a login with an API key.

The login form takes a key with the reports:read scope and starts a session: the cookie holds
the session's id and expiry, signed with DASHBOARD_SESSION_SECRET (leadloop.page_sessions), and
nothing derived from the key. The session ends at its expiry (DASHBOARD_SESSION_S), at sign-out
(its row is deleted, so a copied cookie dies too), or when its key loses the scope or is
removed. A script can skip the form and send X-API-Key.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadloop import page_sessions as dashboard_session
from leadloop.app import unit_of_work
from leadloop.auth import Principal, find_principal
from leadloop.db import UnitOfWork
from leadloop.security import html_policy
from outcomes import dashboard_render as render
from outcomes import report_queries, reports, repository, sales_reports, service
from outcomes.attribution import AttributeBy, Model
from outcomes.domain import Stage
from outcomes.markets import Dimension, MarketBy, market_breakdown
from outcomes.repeat import RepeatBy, repeat_report
from outcomes.reports import GroupBy, Period
from outcomes.schemas import AttributionOut
from outcomes.window import day_bounds

router = APIRouter(tags=["dashboard"], include_in_schema=False)
COOKIE = "leadloop_dashboard"
SCOPE = "reports:read"


def _secret(request: Request) -> bytes:
    return dashboard_session.session_secret(request.app.state.settings.dashboard_session_secret,
                                            request.app.state,
                                            "LEADLOOP_OUTCOMES_DASHBOARD_SESSION_SECRET")


def _may_read(key_name: str, request: Request) -> bool:
    """Whether the key a session signed in with is still configured with the scope."""
    return any(record.name == key_name
               and Principal(name=record.name, scopes=frozenset(record.scopes)).has(SCOPE)
               for record in request.app.state.settings.api_keys)


async def _signed_in(request: Request, uow: UnitOfWork) -> bool:
    """An X-API-Key with the scope, or a live session cookie of a key that still has it."""
    key = request.headers.get("x-api-key")
    if key:
        principal = find_principal(key, request.app.state.settings.api_keys)
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
    return HTMLResponse(_login_html(None), headers=PAGE_HEADERS)


@router.post("/dashboard/login")
async def login(request: Request, api_key: Annotated[str, Form()],
                uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Check the key; on success start a session, set its cookie and go to the dashboard."""
    principal = find_principal(api_key.strip(), request.app.state.settings.api_keys)
    if principal is None or not principal.has(SCOPE):
        return HTMLResponse(_login_html("This key is unknown or lacks the reports:read scope."),
                            status_code=status.HTTP_401_UNAUTHORIZED, headers=PAGE_HEADERS)
    now = datetime.now(UTC)
    lifetime = request.app.state.settings.dashboard_session_s
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
    """Markets, funnel, conversion by source, speed to lead, win rate by response time, attribution,
    score calibration and rejection reasons for leads created in the period."""
    since, until = day_bounds(start, end)
    async with uow:
        if not await _signed_in(request, uow):
            return RedirectResponse("/dashboard/login", status_code=status.HTTP_303_SEE_OTHER)
        # One read of the period's leads feeds every lead report on the page.
        leads = await report_queries.lead_facts(uow.connection, since, until)
        report, currency, currencies = await service.attribution(uow, since, until, model, by,
                                                                 None)
        rejections = await service.rejections(uow, since, until, Period.week)
        revenue = await report_queries.won_revenue(uow.connection, since, until)
        won = await report_queries.won_deals(uow.connection, since, until)
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
    attribution = AttributionOut.of(report, currency, currencies)
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
         f"{render.money(attribution.total_revenue_minor, currency)} in total.",
         render.attribution_table(attribution, link)),
        ("Score calibration", "Win rate per score band, then MQLs vs the rest.",
         render.calibration_charts(calibration)),
        ("Rejection reasons", f"{rejections.total:,} leads rejected by sales in the period.",
         render.rejection_chart(rejections)),
    ]
    body = "".join(f'<section class="card"><h2>{title}</h2><p class="note">{escape(note)}</p>'
                   f"{content}</section>" for title, note, content in cards)
    summary = (f"{funnel.counts['lead']:,} leads, {funnel.counts['mql']:,} MQLs, "
               f"{funnel.counts['won']:,} won")
    return HTMLResponse(_PAGE.format(
        title="LeadLoop outcomes", css=_CSS, summary=escape(summary),
        period=render.period_form(start, end, datetime.now(UTC).date(), link) + _LOGOUT,
        body=body), headers=PAGE_HEADERS)


def _login_html(error: str | None) -> str:
    message = f'<p class="error">{escape(error)}</p>' if error else ""
    form = (f'<section class="card login"><h2>Sign in</h2>{message}'
            '<form method="post" action="/dashboard/login"><label>API key with the '
            'reports:read scope <input type="password" name="api_key" autocomplete="off" '
            'required autofocus></label> <button type="submit">sign in</button></form></section>')
    return _PAGE.format(title="LeadLoop outcomes: sign in", css=_CSS, summary="", period="",
                        body=form)


_LOGOUT = ('<form method="post" action="/dashboard/logout"><button type="submit">sign out'
           '</button></form>')

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>{css}</style></head><body><header><h1>{title}</h1><span class="summary">{summary}</span>
{period}</header><main>{body}</main></body></html>"""

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;flex-wrap:wrap;gap:16px;
align-items:center}
header h1{font-size:18px;margin:0}.summary{opacity:.8}
header form{margin-left:auto}header a{color:#9cc3ff;margin-left:6px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px;padding:16px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
.card h2{font-size:15px;margin:0 0 4px}
.card h3{font-size:12px;margin:6px 0 2px;color:#5b6270}
.note{color:#5b6270;margin:0 0 8px;font-size:12px}
.chart{display:block;margin-bottom:8px}.chart text{font-size:11px;fill:#1d2330}
.chart .label{text-anchor:end}.chart .empty{fill:#8a909c}
.s0{fill:#3b73d9}.s1{fill:#f0a030}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;border-bottom:1px solid #eee;
text-align:left}.num{text-align:right}
.markets svg{vertical-align:middle}.markets .bar{fill:#3b73d9}
.markets tr.above .bar{fill:#1b7f3b}.markets tr.below .bar{fill:#b00020}
.markets tr.small td{color:#8a909c}.markets tr.small .bar{fill:#c5c9d1}
.markets .ci{color:#5b6270;font-size:11px}
.switch{margin:4px 0}.switch a{margin-right:6px;color:#3b73d9}.switch a.on{font-weight:bold;
color:#1d2330;text-decoration:none}.error{color:#b00020}.login{max-width:480px}
"""

# The page's only inline block is the stylesheet above: allowed by its hash, charts are inline
# SVG (no image requests), forms post to this service, nothing may frame it.
PAGE_HEADERS = {"Content-Security-Policy": html_policy(styles=[_CSS])}

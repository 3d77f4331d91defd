"""The dashboard's HTML, charts drawn server-side as inline SVG: no script, no CDN, no files
from elsewhere, so it works offline and shows exactly the numbers the report API returns.
The markup is in templates/ (Jinja2, autoescaped); here are the numbers and the geometry.

Every bar carries its numbers as data attributes (data-key, data-series, data-value), which is
what the browser test reads back and compares with the API.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from leadloop.security import html_policy
from leadloop.templates import Markup, Templates
from outcomes.accounts.domain import AccountRollup, AccountSort, sort_rows
from outcomes.reports.attribution import AttributeBy, AttributionReport, Model
from outcomes.reports.domain import FunnelGroup
from outcomes.reports.markets import Dimension, MarketReport, Signal
from outcomes.reports.repeat import RepeatBy, RepeatReport
from outcomes.reports.sales import RejectionReport, ScoreCalibration, SpeedToLead


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a bar chart: a label and one value per series (None: not defined)."""

    key: str
    values: Sequence[float | None]
    texts: Sequence[str]
    # Another number the bar's text shows (the funnel's conversion), as data-rate; None: none.
    rate: float | None = None


# The service's templates (dashboard and digest email); numbers as 1,234 and +1,234.
TEMPLATES = Templates("outcomes", filters={"thousands": lambda n: f"{n:,}",
                                           "signed": lambda n: f"{n:+,}"})
ROW_H, BAR_H, LABEL_W, BAR_W, VALUE_W = 10, 14, 130, 300, 150


def bar_chart(chart: str, bars: Sequence[Bar], series: Sequence[str],
              scale_max: float | None = None) -> Markup:
    """A horizontal bar chart as inline SVG; bars scale to the largest value (or scale_max)."""
    top = max((v or 0 for bar in bars for v in bar.values), default=0)
    top = scale_max or top or 1
    group_h = BAR_H * len(series) + ROW_H
    height = max(group_h * len(bars), group_h) + (20 if len(series) > 1 else 0)
    rows = []
    for row, bar in enumerate(bars):
        y0 = row * group_h
        drawn = []
        for i, (name, value, text) in enumerate(zip(series, bar.values, bar.texts, strict=True)):
            width = 0 if value is None else max(1.0, BAR_W * value / top) if value else 0
            drawn.append({"series": name, "value": "" if value is None else f"{value:g}",
                          "rate": None if bar.rate is None else f"{bar.rate:g}",
                          "y": y0 + i * BAR_H, "width": f"{width:.1f}",
                          "text_x": f"{LABEL_W + width + 4:.1f}", "text": text})
        rows.append({"key": bar.key, "label_y": y0 + BAR_H * len(series) / 2 + 4,
                     "bars": drawn})
    legend = ([{"x": LABEL_W + i * 150, "name": name} for i, name in enumerate(series)]
              if len(series) > 1 else [])
    return TEMPLATES.fragment("bar_chart.html", chart=chart, rows=rows, legend=legend,
                          legend_y=height - 6, height=height, bar_h=BAR_H, bar_x=LABEL_W,
                          label_x=LABEL_W - 6, view_width=LABEL_W + BAR_W + VALUE_W)


def percent(rate: float | None) -> str:
    """0.1234 -> '12.3%'; None -> '-'."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def duration(seconds: float | None) -> str:
    """Seconds as the largest sensible unit."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def money(minor: int, currency: str | None) -> str:
    """Minor units as major with a thousands separator, e.g. 'EUR 12,500.00'."""
    return f"{currency or ''} {minor / 100:,.2f}".strip()


def money_or_dash(minor: int | None, currency: str | None) -> str:
    """`money`, or '-' when the amount or its currency is unknown."""
    return "-" if minor is None or currency is None else money(minor, currency)


def signal_word(signal: Signal) -> str:
    """How a rate compares with the average of all, in words ('' when it does not differ)."""
    return {Signal.above: "above average", Signal.below: "below average"}.get(signal, "")


def funnel_chart(funnel: FunnelGroup) -> Markup:
    """Leads per stage, with the conversion from the step before."""
    rates = {s.to_stage.value: s.rate for s in funnel.steps}
    bars = [Bar(stage, [count], [f"{count:,}" + (f"  ({percent(rates[stage])})"
                                                 if stage in rates else "")],
                rates.get(stage))
            for stage, count in funnel.counts.items()]
    return bar_chart("funnel", bars, ["leads"])


def conversion_by_source_chart(groups: Sequence[FunnelGroup]) -> Markup:
    """Per source: lead -> MQL and lead -> won."""
    bars = []
    for group in groups:
        leads = group.counts["lead"]
        mql = group.counts["mql"] / leads if leads else None
        won = group.counts["won"] / leads if leads else None
        bars.append(Bar(group.key, [mql, won], [
            f"{percent(mql)} of {leads:,}", f"{percent(won)} ({group.counts['won']:,} won)"]))
    return bar_chart("conversion-by-source", bars, ["lead to MQL", "lead to won"], 1.0)


def speed_chart(speed: SpeedToLead) -> Markup:
    """Histogram of handoff -> first contact and created -> handoff, by response bucket."""
    handoff = {b.bucket: b.leads for b in speed.to_handoff_histogram}
    bars = [Bar(b.bucket, [b.leads, handoff[b.bucket]], [f"{b.leads:,}",
                                                         f"{handoff[b.bucket]:,}"])
            for b in speed.to_first_contact_histogram]
    return bar_chart("speed-to-lead", bars, ["handoff to first contact", "created to handoff"])


def win_rate_chart(speed: SpeedToLead) -> Markup:
    """Win rate per response-time bucket."""
    bars = [Bar(b.bucket, [b.win_rate], [f"{percent(b.win_rate)} ({b.won:,} of {b.leads:,})"])
            for b in speed.to_first_contact_histogram]
    return bar_chart("win-rate-by-response", bars, ["win rate"], 1.0)


def calibration_charts(calibration: ScoreCalibration) -> Markup:
    """Win rate per score band, then MQL vs the rest."""
    def bars(rows: Sequence) -> list[Bar]:  # type: ignore[type-arg]
        return [Bar(r.key, [r.win_rate], [f"{percent(r.win_rate)} ({r.won:,} of {r.leads:,})"])
                for r in rows]
    return TEMPLATES.fragment(
        "calibration.html",
        by_band=bar_chart("score-calibration", bars(calibration.by_band), ["win rate"], 1.0),
        by_mql=bar_chart("mql-calibration", bars(calibration.by_mql), ["win rate"], 1.0))


def rejection_chart(rejections: RejectionReport) -> Markup:
    """Rejections per reason code."""
    bars = [Bar(reason, [n], [f"{n:,}"]) for reason, n in
            sorted(rejections.reasons.items(), key=lambda item: (-item[1], item[0]))]
    return bar_chart("rejection-reasons", bars, ["rejections"])


def _switch(name: str, values: Sequence[str], current: str, link: dict[str, str]) -> Markup:
    """Links that show the page again with `name` set to each of `values`."""
    return TEMPLATES.fragment("switch.html", name=name, options=[
        {"value": value, "on": value == current, "href": "?" + urlencode({**link, name: value})}
        for value in values])


def attribution_table(report: AttributionReport, currency: str | None,
                      link: dict[str, str]) -> Markup:
    """The attribution table, with links that switch model and dimension."""
    rows = [{"key": r.key, "revenue_minor": r.revenue_minor, "won": f"{r.won_deals:g}",
             "won_text": f"{r.won_deals:,.2f}", "revenue": money(r.revenue_minor, currency)}
            for r in report.rows]
    return TEMPLATES.fragment(
        "attribution.html", report=report, rows=rows,
        models=_switch("model", [m.value for m in Model], report.model.value, link),
        dims=_switch("by", [b.value for b in AttributeBy], report.by.value, link))


BAR_MAX_PX = 160  # a 100% win rate


def _rate_cells(signal: Signal, small_sample: bool, rate: float | None, ci_low: float | None,
                ci_high: float | None, counted: str) -> dict[str, object]:
    """A ranked rate's cells in the market and repeat tables: its bar, 95% interval and how it
    compares with the average (`counted`: what its sample counts, e.g. 'leads')."""
    flag = signal_word(signal)
    if small_sample:
        flag = f"too few {counted} to tell" if not flag else f"{flag} (few {counted})"
    return {
        "signal": signal.value,
        "classes": " ".join(x for x in (signal.value, "small" if small_sample else "") if x),
        "rate": "" if rate is None else f"{rate:g}", "percent": percent(rate),
        "small": str(small_sample).lower(),
        "width": max(1, round(rate * BAR_MAX_PX)) if rate else 0,
        "interval": None if ci_low is None else f"{percent(ci_low)}-{percent(ci_high)}",
        "flag": flag}


def market_table(report: MarketReport, link: dict[str, str]) -> Markup:
    """Markets ranked by win rate, each with n, an inline bar, its interval and a flag for how
    it compares with the average; a switch for the dimension."""
    rows = []
    for r in report.rows:
        c = r.conversion
        rows.append({
            "key": r.key, "leads": r.leads, "won": c.reached,
            **_rate_cells(c.signal, r.small_sample, c.rate, c.ci_low, c.ci_high, "leads"),
            "revenue": ", ".join(money(v, k) for k, v in r.revenue_minor.items())})
    return TEMPLATES.fragment("markets.html", by=report.by, rows=rows, bar_max=BAR_MAX_PX,
                          dims=_switch("market", [d.value for d in Dimension], report.by, link))


def period_form(start: date | None, end: date | None, today: date, link: dict[str, str]
                ) -> Markup:
    """The period filter: two dates and a few presets."""
    kept = {k: v for k, v in link.items() if k not in ("from", "to")}
    presets = []
    for days, label in ((7, "7 days"), (30, "30 days"), (90, "90 days"), (None, "all time")):
        params = dict(kept)
        if days is not None:
            params["from"] = date.fromordinal(today.toordinal() - days + 1).isoformat()
        presets.append((urlencode(params), label))
    return TEMPLATES.fragment("period.html", hidden=kept.items(), start=start, end=end,
                          presets=presets)


def repeat_table(report: RepeatReport, link: dict[str, str]) -> Markup:
    """Repeat customers per campaign, source, country or rep: customers (n), how many bought
    again, the rate with its interval and flag, days to the second purchase, and revenue per
    customer from first and repeat purchases; a switch for the grouping."""
    rows = []
    for r in [report.overall, *report.rows]:
        rows.append({
            "key": r.key, "customers": r.customers, "repeat_customers": r.repeat_customers,
            "repeat_purchases": r.repeat_purchases,
            **_rate_cells(r.signal, r.small_sample, r.repeat_purchase_rate, r.ci_low, r.ci_high,
                          "customers"),
            "days": "-" if r.days_to_second_median is None else f"{r.days_to_second_median:g}",
            "first": money_or_dash(r.first_revenue_per_customer_minor, report.currency),
            "repeat": money_or_dash(r.repeat_revenue_per_customer_minor, report.currency)})
    return TEMPLATES.fragment("repeat.html", by=report.by, rows=rows, bar_max=BAR_MAX_PX,
                              dims=_switch("repeat_by", [d.value for d in RepeatBy], report.by,
                                           link))


TOP_ACCOUNTS = 10


def accounts_table(rollup: AccountRollup, top: int = TOP_ACCOUNTS) -> Markup:
    """The accounts with the most won revenue: owner, contacts, customers, deals won and
    lost, repeat purchases, revenue split into first and repeat purchases; an account with
    fewer customers than the sample minimum is grey (its repeat rate tells little)."""
    def cash(amount: int) -> str:
        return "-" if rollup.currency is None else money(amount, rollup.currency)
    rows = []
    for r in sort_rows(rollup.rows, AccountSort.revenue)[:top]:
        rows.append({
            "domain": r.domain, "owner": r.owner_rep_name or "-", "contacts": r.contacts,
            "customers": r.customers, "deals_won": r.deals_won, "deals_lost": r.deals_lost,
            "repeat_purchases": r.repeat_purchases, "revenue_minor": r.revenue_minor,
            "revenue": cash(r.revenue_minor), "first": cash(r.first_revenue_minor),
            "repeat": cash(r.repeat_revenue_minor), "small": str(r.small_sample).lower(),
            "classes": "small" if r.small_sample else "",
            "flag": "bought again" if r.repeat_purchases else ""})
    return TEMPLATES.fragment("accounts.html", rows=rows)


CSS = TEMPLATES.static("dashboard.css")
# The page's only inline block is the stylesheet: allowed by its hash, charts are inline SVG
# (no image requests), forms post to this service, nothing may frame it.
PAGE_HEADERS = {"Content-Security-Policy": html_policy(styles=[CSS])}


def login_page(error: str | None) -> str:
    """The sign-in form, with why the last attempt failed."""
    return TEMPLATES.render("login.html", css=CSS, error=error)


def dashboard_page(cards: Sequence[tuple[str, str, Markup]], summary: str,
                   start: date | None, end: date | None, today: date,
                   link: dict[str, str]) -> str:
    """The whole page: (title, note, chart or table) per card, under the period filter."""
    return TEMPLATES.render("dashboard.html", css=CSS, cards=cards, summary=summary,
                        period=period_form(start, end, today, link))

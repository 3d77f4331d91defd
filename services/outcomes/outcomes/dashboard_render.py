"""The dashboard's HTML, charts drawn server-side as inline SVG: no script, no CDN, no files
from elsewhere, so it works offline and shows exactly the numbers the report API returns.

Every bar carries its numbers as data attributes (data-key, data-series, data-value), which is
what the browser test reads back and compares with the API.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from urllib.parse import urlencode

from outcomes.attribution import AttributeBy, Model
from outcomes.markets import Dimension, MarketReport
from outcomes.repeat import RepeatBy, RepeatReport
from outcomes.reports import FunnelGroup
from outcomes.sales_reports import RejectionReport, ScoreCalibration, SpeedToLead
from outcomes.schemas import AttributionOut


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a bar chart: a label and one value per series (None: not defined)."""

    key: str
    values: Sequence[float | None]
    texts: Sequence[str]
    # Another number the bar's text shows (the funnel's conversion), as data-rate; None: none.
    rate: float | None = None


ROW_H, BAR_H, LABEL_W, BAR_W, VALUE_W = 10, 14, 130, 300, 150


def bar_chart(chart: str, bars: Sequence[Bar], series: Sequence[str],
              scale_max: float | None = None) -> str:
    """A horizontal bar chart as inline SVG; bars scale to the largest value (or scale_max)."""
    top = max((v or 0 for bar in bars for v in bar.values), default=0)
    top = scale_max or top or 1
    group_h = BAR_H * len(series) + ROW_H
    height = max(group_h * len(bars), group_h) + (20 if len(series) > 1 else 0)
    parts = [f'<svg class="chart" data-chart="{chart}" role="img" width="100%" '
             f'viewBox="0 0 {LABEL_W + BAR_W + VALUE_W} {height}">']
    if not bars:
        parts.append(f'<text x="0" y="{BAR_H}" class="empty">no data in this period</text>')
    for row, bar in enumerate(bars):
        y0 = row * group_h
        parts.append(f'<text x="{LABEL_W - 6}" y="{y0 + BAR_H * len(series) / 2 + 4}" '
                     f'class="label">{escape(bar.key)}</text>')
        for i, (name, value, text) in enumerate(zip(series, bar.values, bar.texts, strict=True)):
            y = y0 + i * BAR_H
            width = 0 if value is None else max(1.0, BAR_W * value / top) if value else 0
            data = "" if value is None else f"{value:g}"
            rate = "" if bar.rate is None else f' data-rate="{bar.rate:g}"'
            parts.append(
                f'<g class="bar" data-key="{escape(bar.key)}" data-series="{escape(name)}" '
                f'data-value="{data}"{rate}><rect class="s{i}" x="{LABEL_W}" y="{y + 1}" '
                f'width="{width:.1f}" height="{BAR_H - 2}"/><text x="{LABEL_W + width + 4:.1f}" '
                f'y="{y + BAR_H - 3}" class="value">{escape(text)}</text></g>')
    if len(series) > 1:
        y = height - 6
        for i, name in enumerate(series):
            x = LABEL_W + i * 150
            parts.append(f'<rect class="s{i}" x="{x}" y="{y - 9}" width="10" height="10"/>'
                         f'<text x="{x + 14}" y="{y}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


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


def funnel_chart(funnel: FunnelGroup) -> str:
    """Leads per stage, with the conversion from the step before."""
    rates = {s.to_stage.value: s.rate for s in funnel.steps}
    bars = [Bar(stage, [count], [f"{count:,}" + (f"  ({percent(rates[stage])})"
                                                 if stage in rates else "")],
                rates.get(stage))
            for stage, count in funnel.counts.items()]
    return bar_chart("funnel", bars, ["leads"])


def conversion_by_source_chart(groups: Sequence[FunnelGroup]) -> str:
    """Per source: lead -> MQL and lead -> won."""
    bars = []
    for group in groups:
        leads = group.counts["lead"]
        mql = group.counts["mql"] / leads if leads else None
        won = group.counts["won"] / leads if leads else None
        bars.append(Bar(group.key, [mql, won], [
            f"{percent(mql)} of {leads:,}", f"{percent(won)} ({group.counts['won']:,} won)"]))
    return bar_chart("conversion-by-source", bars, ["lead to MQL", "lead to won"], 1.0)


def speed_chart(speed: SpeedToLead) -> str:
    """Histogram of handoff -> first contact and created -> handoff, by response bucket."""
    handoff = {b.bucket: b.leads for b in speed.to_handoff_histogram}
    bars = [Bar(b.bucket, [b.leads, handoff[b.bucket]], [f"{b.leads:,}",
                                                         f"{handoff[b.bucket]:,}"])
            for b in speed.to_first_contact_histogram]
    return bar_chart("speed-to-lead", bars, ["handoff to first contact", "created to handoff"])


def win_rate_chart(speed: SpeedToLead) -> str:
    """Win rate per response-time bucket."""
    bars = [Bar(b.bucket, [b.win_rate], [f"{percent(b.win_rate)} ({b.won:,} of {b.leads:,})"])
            for b in speed.to_first_contact_histogram]
    return bar_chart("win-rate-by-response", bars, ["win rate"], 1.0)


def calibration_charts(calibration: ScoreCalibration) -> str:
    """Win rate per score band, then MQL vs the rest."""
    def bars(rows: Sequence) -> list[Bar]:  # type: ignore[type-arg]
        return [Bar(r.key, [r.win_rate], [f"{percent(r.win_rate)} ({r.won:,} of {r.leads:,})"])
                for r in rows]
    return ('<h3>by score band</h3>'
            + bar_chart("score-calibration", bars(calibration.by_band), ["win rate"], 1.0)
            + '<h3>MQL or not</h3>'
            + bar_chart("mql-calibration", bars(calibration.by_mql), ["win rate"], 1.0))


def rejection_chart(rejections: RejectionReport) -> str:
    """Rejections per reason code."""
    bars = [Bar(reason, [n], [f"{n:,}"]) for reason, n in
            sorted(rejections.reasons.items(), key=lambda item: (-item[1], item[0]))]
    return bar_chart("rejection-reasons", bars, ["rejections"])


def attribution_table(report: AttributionOut, link: dict[str, str]) -> str:
    """The attribution table, with links that switch model and dimension."""
    def switch(name: str, value: str, current: str) -> str:
        href = "?" + urlencode({**link, name: value})
        cls = ' class="on"' if value == current else ""
        return f'<a{cls} data-{name}="{value}" href="{escape(href)}">{value.replace("_", " ")}</a>'
    models = " ".join(switch("model", m.value, report.model.value) for m in Model)
    dims = " ".join(switch("by", b.value, report.by.value) for b in AttributeBy)
    rows = "".join(
        f'<tr data-key="{escape(r.key)}" data-revenue="{r.revenue_minor}" '
        f'data-won="{r.won_deals:g}"><td>{escape(r.key)}</td><td class="num">{r.won_deals:,.2f}'
        f'</td><td class="num">{money(r.revenue_minor, report.currency)}</td></tr>'
        for r in report.rows) or '<tr><td colspan="3" class="empty">no won deals</td></tr>'
    return (f'<div class="switch" data-switch="model">model: {models}</div>'
            f'<div class="switch" data-switch="by">credit: {dims}</div>'
            f'<table class="attribution" data-model="{report.model.value}" '
            f'data-by="{report.by.value}"><thead><tr><th>{report.by.value}</th><th>won deals</th>'
            f'<th>revenue</th></tr></thead><tbody>{rows}</tbody></table>')


BAR_MAX_PX = 160  # a 100% win rate


def market_table(report: MarketReport, link: dict[str, str]) -> str:
    """Markets ranked by win rate, each with n, an inline bar, its interval and a flag for how
    it compares with the average; a switch for the dimension."""
    def switch(value: str) -> str:
        href = "?" + urlencode({**link, "market": value})
        cls = ' class="on"' if value == report.by else ""
        return f'<a{cls} data-market="{value}" href="{escape(href)}">{value.replace("_", " ")}</a>'
    dims = " ".join(switch(d.value) for d in Dimension)
    rows = []
    for r in report.rows:
        c = r.conversion
        flag = {"above": "above average", "below": "below average"}.get(c.signal.value, "")
        if r.small_sample:
            flag = "too few leads to tell" if not flag else f"{flag} (few leads)"
        classes = " ".join(x for x in (c.signal.value, "small" if r.small_sample else "") if x)
        width = max(1, round(c.rate * BAR_MAX_PX)) if c.rate else 0
        interval = ("" if c.ci_low is None
                    else f'<span class="ci">{percent(c.ci_low)}-{percent(c.ci_high)}</span>')
        rows.append(
            f'<tr class="{classes}" data-key="{escape(r.key)}" data-leads="{r.leads}" '
            f'data-won="{c.reached}" data-rate="{"" if c.rate is None else f"{c.rate:g}"}" '
            f'data-signal="{c.signal.value}" data-small="{str(r.small_sample).lower()}">'
            f'<td>{escape(r.key)}</td><td class="num">{r.leads:,}</td>'
            f'<td class="num">{c.reached:,}</td><td class="num">{percent(c.rate)}</td>'
            # An SVG rect, not a styled span: the page's CSP allows no inline style attributes.
            f'<td><svg width="{BAR_MAX_PX}" height="10" aria-hidden="true"><rect class="bar" '
            f'width="{width}" height="10"/></svg> {interval}</td>'
            f'<td class="num">{escape(", ".join(money(v, k) for k, v in r.revenue_minor.items()))}'
            f'</td><td>{escape(flag)}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="7" class="empty">no leads in this period</td></tr>'
    return (f'<div class="switch" data-switch="market">by: {dims}</div>'
            f'<table class="markets" data-by="{escape(report.by)}"><thead><tr>'
            f"<th>{escape(report.by.replace('_', ' '))}</th><th>leads (n)</th><th>won</th>"
            "<th>win rate</th><th>95% interval</th><th>revenue</th><th></th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def period_form(start: date | None, end: date | None, today: date, link: dict[str, str]) -> str:
    """The period filter: two dates and a few presets."""
    def preset(days: int | None, label: str) -> str:
        params = {k: v for k, v in link.items() if k not in ("from", "to")}
        if days is not None:
            params["from"] = date.fromordinal(today.toordinal() - days + 1).isoformat()
        return f'<a href="?{escape(urlencode(params))}">{label}</a>'
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in link.items() if k not in ("from", "to"))
    return (f'<form class="period" method="get">{hidden}'
            f'<label>from <input type="date" name="from" value="{start or ""}"></label> '
            f'<label>to <input type="date" name="to" value="{end or ""}"></label> '
            f'<button type="submit">apply</button> {preset(7, "7 days")} '
            f'{preset(30, "30 days")} {preset(90, "90 days")} {preset(None, "all time")}</form>')


def repeat_table(report: RepeatReport, link: dict[str, str]) -> str:
    """Repeat customers per campaign, source, country or rep: customers (n), how many bought
    again, the rate with its interval and flag, days to the second purchase, and revenue per
    customer from first and repeat purchases; a switch for the grouping."""
    def switch(value: str) -> str:
        href = "?" + urlencode({**link, "repeat_by": value})
        cls = ' class="on"' if value == report.by else ""
        return f'<a{cls} data-repeat-by="{value}" href="{escape(href)}">{value}</a>'
    dims = " ".join(switch(d.value) for d in RepeatBy)

    def cash(amount: int | None) -> str:
        return "-" if amount is None or report.currency is None else money(amount,
                                                                           report.currency)
    rows = []
    for r in [report.overall, *report.rows]:
        flag = {"above": "above average", "below": "below average"}.get(r.signal.value, "")
        if r.small_sample:
            flag = "too few customers to tell" if not flag else f"{flag} (few customers)"
        classes = " ".join(x for x in (r.signal.value, "small" if r.small_sample else "") if x)
        width = max(1, round(r.repeat_purchase_rate * BAR_MAX_PX)) \
            if r.repeat_purchase_rate else 0
        interval = ("" if r.ci_low is None
                    else f'<span class="ci">{percent(r.ci_low)}-{percent(r.ci_high)}</span>')
        days = "-" if r.days_to_second_median is None else f"{r.days_to_second_median:g}"
        rate = "" if r.repeat_purchase_rate is None else f"{r.repeat_purchase_rate:g}"
        rows.append(
            f'<tr class="{classes}" data-key="{escape(r.key)}" data-customers="{r.customers}" '
            f'data-repeat-customers="{r.repeat_customers}" data-rate="{rate}" '
            f'data-repeat-purchases="{r.repeat_purchases}" data-signal="{r.signal.value}" '
            f'data-small="{str(r.small_sample).lower()}">'
            f'<td>{escape(r.key)}</td><td class="num">{r.customers:,}</td>'
            f'<td class="num">{r.repeat_customers:,}</td>'
            f'<td class="num">{percent(r.repeat_purchase_rate)}</td>'
            f'<td><svg width="{BAR_MAX_PX}" height="10" aria-hidden="true"><rect class="bar" '
            f'width="{width}" height="10"/></svg> {interval}</td>'
            f'<td class="num">{days}</td>'
            f'<td class="num">{escape(cash(r.first_revenue_per_customer_minor))}</td>'
            f'<td class="num">{escape(cash(r.repeat_revenue_per_customer_minor))}</td>'
            f"<td>{escape(flag)}</td></tr>")
    return (f'<div class="switch" data-switch="repeat">by: {dims}</div>'
            f'<table class="markets repeat" data-by="{escape(report.by)}"><thead><tr>'
            f"<th>{escape(report.by)}</th><th>customers (n)</th><th>bought again</th>"
            "<th>repeat rate</th><th>95% interval</th><th>median days to 2nd</th>"
            "<th>first purchase / customer</th><th>repeat / customer</th><th></th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>")

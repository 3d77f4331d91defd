"""The digest as an email: plain text and HTML alternatives of the same figures. Pure.

The HTML is tables with inline styles (mail readers ignore style sheets and scripts), no images
or anything fetched from elsewhere; each figure also sits in a data-metric attribute, which the
end-to-end test reads back. The Message-ID is derived from the period, so a retry to the
recipients a failed attempt missed is the same message.
"""

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from html import escape

from outcomes.dashboard_render import duration, money, percent
from outcomes.digest import Digest, Headline, RepeatSegment, Segment

_GREEN, _RED, _GREY = "#1b7f3b", "#b00020", "#5b6270"


def subject(digest: Digest) -> str:
    """E.g. 'LeadLoop digest 2026-W48: 120 leads, 14 MQLs, 3 won'."""
    h = digest.headline
    return f"LeadLoop digest {digest.period}: {h.leads:,} leads, {h.mqls:,} MQLs, {h.won:,} won"


def _revenue(revenue: dict[str, int]) -> str:
    return ", ".join(money(v, c) for c, v in revenue.items()) or "-"


def _change(now: int, before: int) -> str:
    return f"{now - before:+,}" if before or now else "0"


_HEADLINE_ROWS = (("New leads", "leads"), ("MQLs", "mqls"), ("Handoffs", "handoffs"),
                  ("Accepted", "accepted"), ("Rejected", "rejected"),
                  ("Opportunities", "opportunities"), ("Won", "won"), ("Lost", "lost"))


def _verdict(within: bool | None) -> str:
    return "" if within is None else " (within SLA)" if within else " (over SLA)"


def _signal_word(row: Segment) -> str:
    word = {"above": "above average", "below": "below average"}.get(row.signal.value, "")
    if row.small_sample:
        word = (word + ", " if word else "") + f"small sample (n={row.leads})"
    return word


def render_text(digest: Digest, dashboard_url: str) -> str:
    """The plain-text alternative."""
    h, p, s = digest.headline, digest.previous_headline, digest.speed_to_lead
    lines = [f"LeadLoop digest {digest.period}",
             f"Leads created {digest.start:%Y-%m-%d %H:%M} to {digest.end:%Y-%m-%d %H:%M} UTC,"
             f" against {digest.previous_period}.", ""]
    for label, name in _HEADLINE_ROWS:
        now, before = getattr(h, name), getattr(p, name)
        lines.append(f"{label + ':':<16}{now:>8,}  ({_change(now, before)})")
    lines += [f"{'Win rate:':<16}{percent(h.win_rate):>8}  (was {percent(p.win_rate)})",
              f"{'Revenue won:':<16}{_revenue(h.revenue_minor)}", "",
              f"Speed to lead (handoff to first contact, SLA {duration(s.sla_s)}):",
              f"  median {duration(s.median_s)}{_verdict(s.median_within_sla)}",
              f"  p90    {duration(s.p90_s)}{_verdict(s.p90_within_sla)}",
              f"  contacted {s.contacted:,}, never contacted {s.never_contacted:,}", ""]
    lines.append("Top rejection reasons:")
    lines += [f"  {r.reason}: {r.count:,}" for r in digest.top_rejection_reasons] or ["  none"]
    for title, rows in (("By source", digest.by_source), ("By market (country)",
                                                          digest.by_market)):
        lines += ["", f"{title}: leads, won, win rate, revenue"]
        lines += [f"  {r.key:<20}{r.leads:>6,}{r.won:>6,}  {percent(r.win_rate):>6}  "
                  f"{_revenue(r.revenue_minor)}"
                  + (f"  [{_signal_word(r)}]" if _signal_word(r) else "") for r in rows] \
            or ["  no leads"]
    lines += _repeat_text(digest)
    lines += ["", "Biggest movers against the previous period (leads):"]
    lines += [f"  {m.dimension} {m.key}: {m.previous_leads:,} -> {m.leads:,} ({m.change:+,})"
              for m in digest.movers] or ["  nothing moved"]
    lines += ["", f"Dashboard: {dashboard_url}", ""]
    return "\n".join(lines)


def _repeat_word(row: RepeatSegment) -> str:
    word = {"above": "above average", "below": "below average"}.get(row.signal.value, "")
    if row.small_sample:
        word = (word + ", " if word else "") + f"small sample (n={row.customers})"
    return word


def _repeat_money(amount: int | None, currency: str | None) -> str:
    return "-" if amount is None or currency is None else money(amount, currency)


def _repeat_text(digest: Digest) -> list[str]:
    summary = digest.repeat_customers
    if summary is None:
        return []
    lines = ["", "Repeat customers (customers, bought again, rate, median days to 2nd, "
             "revenue per customer first / repeat):"]
    for r in [summary.overall, *summary.by_campaign]:
        lines.append(
            f"  {r.key:<20}{r.customers:>6,}{r.repeat_customers:>6,}  "
            f"{percent(r.repeat_purchase_rate):>6}  {r.days_to_second_median or '-':>6}  "
            f"{_repeat_money(r.first_revenue_per_customer_minor, summary.currency)} / "
            f"{_repeat_money(r.repeat_revenue_per_customer_minor, summary.currency)}"
            + (f"  [{_repeat_word(r)}]" if _repeat_word(r) else ""))
    return lines


def _repeat_html(digest: Digest) -> str:
    summary = digest.repeat_customers
    if summary is None:
        return ""
    body = []
    for r in [summary.overall, *summary.by_campaign]:
        color = {"above": _GREEN, "below": _RED}.get(r.signal.value, "#3b73d9")
        body.append(
            f'<tr data-campaign="{escape(r.key)}">' + _cell(r.key)
            + _cell(f"{r.customers:,}", num=True, metric=f"repeat.{r.key}.customers")
            + _cell(f"{r.repeat_customers:,}", num=True,
                    metric=f"repeat.{r.key}.repeat_customers")
            + _cell(percent(r.repeat_purchase_rate), num=True, color=color,
                    metric=f"repeat.{r.key}.rate")
            + _cell(str(r.days_to_second_median if r.days_to_second_median is not None
                        else "-"), num=True)
            + _cell(_repeat_money(r.first_revenue_per_customer_minor, summary.currency),
                    num=True)
            + _cell(_repeat_money(r.repeat_revenue_per_customer_minor, summary.currency),
                    num=True)
            + _cell(_repeat_word(r), color=_GREY) + "</tr>")
    head = "".join(f'<th style="text-align:left;padding:4px 8px;color:{_GREY}">{h}</th>'
                   for h in ("campaign", "customers", "bought again", "rate",
                             "median days to 2nd", "first / customer", "repeat / customer",
                             ""))
    return (f'<h2 style="font-size:16px;margin:20px 0 6px">Repeat customers</h2>'
            f'<table style="border-collapse:collapse;font-size:13px"><tr>{head}</tr>'
            f'{"".join(body)}</table>')


def _cell(text: str, *, num: bool = False, color: str | None = None, metric: str = "") -> str:
    style = "padding:4px 8px;border-bottom:1px solid #e5e7eb;" + \
        ("text-align:right;" if num else "") + (f"color:{color};" if color else "")
    data = f' data-metric="{escape(metric)}"' if metric else ""
    return f'<td style="{style}"{data}>{escape(text)}</td>'


def _bar(rate: float | None, color: str) -> str:
    width = max(1, round(rate * 120)) if rate else 0  # no bar for none or 0%
    return (f'<td style="padding:4px 8px;border-bottom:1px solid #e5e7eb">'
            f'<div style="background:{color};height:10px;width:{width}px"></div></td>')


def _segments_html(title: str, dimension: str, rows: list[Segment]) -> str:
    body = []
    for r in rows:
        color = {"above": _GREEN, "below": _RED}.get(r.signal.value, "#3b73d9")
        note = _signal_word(r)
        body.append(
            f'<tr data-{dimension}="{escape(r.key)}">'
            + _cell(r.key) + _cell(f"{r.leads:,}", num=True, metric=f"{dimension}.{r.key}.leads")
            + _cell(f"{r.won:,}", num=True, metric=f"{dimension}.{r.key}.won")
            + _cell(percent(r.win_rate), num=True, color=color)
            + _bar(r.win_rate, color) + _cell(_revenue(r.revenue_minor), num=True)
            + _cell(note, color=_GREY) + "</tr>")
    head = "".join(f'<th style="text-align:left;padding:4px 8px;color:{_GREY}">{h}</th>'
                   for h in (dimension, "leads", "won", "win rate", "", "revenue", ""))
    rows_html = "".join(body) or f'<tr><td colspan="7" style="color:{_GREY}">no leads</td></tr>'
    return (f'<h2 style="font-size:16px;margin:20px 0 6px">{escape(title)}</h2>'
            f'<table style="border-collapse:collapse;font-size:13px"><tr>{head}</tr>'
            f"{rows_html}</table>")


def _headline_html(h: Headline, p: Headline) -> str:
    rows = []
    for label, name in _HEADLINE_ROWS:
        now, before = getattr(h, name), getattr(p, name)
        rows.append("<tr>" + _cell(label) + _cell(f"{now:,}", num=True, metric=name)
                    + _cell(_change(now, before), num=True, color=_GREY) + "</tr>")
    rows.append("<tr>" + _cell("Win rate") + _cell(percent(h.win_rate), num=True,
                                                     metric="win_rate")
                + _cell(f"was {percent(p.win_rate)}", num=True, color=_GREY) + "</tr>")
    rows.append("<tr>" + _cell("Revenue won") + _cell(_revenue(h.revenue_minor), num=True)
                + _cell("") + "</tr>")
    return f'<table style="border-collapse:collapse;font-size:14px">{"".join(rows)}</table>'


def render_html(digest: Digest, dashboard_url: str) -> str:
    """The HTML alternative."""
    s = digest.speed_to_lead

    def against(value: float | None, within: bool | None, metric: str) -> str:
        color = _GREY if within is None else _GREEN if within else _RED
        return (f'<span data-metric="{metric}" style="color:{color}">'
                f"{escape(duration(value) + _verdict(within))}</span>")

    reasons = "".join(f"<li>{escape(r.reason)}: {r.count:,}</li>"
                      for r in digest.top_rejection_reasons) or "<li>none</li>"
    moved = "".join(f"<li>{escape(m.dimension)} <b>{escape(m.key)}</b>: {m.previous_leads:,}"
                    f" &rarr; {m.leads:,} leads ({m.change:+,})</li>"
                    for m in digest.movers) or "<li>nothing moved</li>"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(subject(digest))}</title></head>
<body style="margin:0;padding:16px;background:#f4f5f7;font:14px/1.4 Arial,sans-serif;color:#1d2330">
<div style="max-width:720px;margin:0 auto;background:#fff;padding:16px 20px;border-radius:8px">
<h1 style="font-size:20px;margin:0 0 4px">LeadLoop digest {escape(digest.period)}</h1>
<p style="color:{_GREY};margin:0 0 12px">Leads created {digest.start:%Y-%m-%d %H:%M} to
{digest.end:%Y-%m-%d %H:%M} UTC; changes against {escape(digest.previous_period)}.</p>
{_headline_html(digest.headline, digest.previous_headline)}
<h2 style="font-size:16px;margin:20px 0 6px">Speed to lead</h2>
<p style="margin:0">Handoff to first contact, SLA {escape(duration(s.sla_s))}: median
{against(s.median_s, s.median_within_sla, "speed.median")}, p90
{against(s.p90_s, s.p90_within_sla, "speed.p90")}; {s.contacted:,} contacted,
{s.never_contacted:,} never contacted.</p>
<h2 style="font-size:16px;margin:20px 0 6px">Top rejection reasons</h2><ul>{reasons}</ul>
{_segments_html("By source", "source", digest.by_source)}
{_segments_html("By market (country)", "country", digest.by_market)}
{_repeat_html(digest)}
<h2 style="font-size:16px;margin:20px 0 6px">Biggest movers</h2><ul>{moved}</ul>
<p style="color:{_GREY};font-size:12px">Green and red: the win rate's 95% interval is above or
below the average of all leads; small samples are marked. <a href="{escape(dashboard_url)}">
Open the dashboard</a>.</p></div></body></html>"""


def message_id(period: str) -> str:
    """The digest's Message-ID: the same for every attempt at the same period."""
    return f"<digest.{re.sub(r'[^A-Za-z0-9]+', '.', period).strip('.')}@leadloop.local>"


def render_email(digest: Digest, mail_from: str, recipients: list[str], dashboard_url: str,
                 now: datetime) -> EmailMessage:
    """The digest as a multipart/alternative message to all recipients."""
    message = EmailMessage()
    name, address = parseaddr(mail_from)
    message["From"] = Address(display_name=name, addr_spec=address) if name else address
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject(digest)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(digest.period)
    message["X-LeadLoop-Digest"] = digest.period
    message.set_content(render_text(digest, dashboard_url))
    message.add_alternative(render_html(digest, dashboard_url), subtype="html")
    return message

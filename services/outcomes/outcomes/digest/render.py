"""The digest as an email: plain text and HTML alternatives of the same figures. Pure.

The HTML (templates/digest.html, autoescaped) is tables with inline styles (mail readers
ignore style sheets and scripts), no images or anything fetched from elsewhere; each figure
also sits in a data-metric attribute, which the end-to-end test reads back. The Message-ID is
derived from the period, so a retry to the recipients a failed attempt missed is the same message.
"""

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from outcomes.dashboard.render import (
    TEMPLATES,
    duration,
    money,
    money_or_dash,
    percent,
    signal_word,
)
from outcomes.digest.domain import Digest, RepeatSummary, Segment, TopAccounts
from outcomes.reports.markets import Signal

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


def _note(signal: Signal, small_sample: bool, n: int) -> str:
    """How a rate compares with the average, and whether its sample (n) is too small to tell."""
    word = signal_word(signal)
    if small_sample:
        word = (word + ", " if word else "") + f"small sample (n={n})"
    return word


def _bracketed(note: str) -> str:
    return f"  [{note}]" if note else ""


def _signal_color(signal: Signal) -> str:
    return {Signal.above: _GREEN, Signal.below: _RED}.get(signal, "#3b73d9")


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
                  + _bracketed(_note(r.signal, r.small_sample, r.leads)) for r in rows] \
            or ["  no leads"]
    if digest.repeat_customers is not None:
        lines += _repeat_text(digest.repeat_customers)
    if digest.top_accounts is not None:
        lines += _accounts_text(digest.top_accounts)
    lines += ["", "Biggest movers against the previous period (leads):"]
    lines += [f"  {m.dimension} {m.key}: {m.previous_leads:,} -> {m.leads:,} ({m.change:+,})"
              for m in digest.movers] or ["  nothing moved"]
    lines += ["", f"Dashboard: {dashboard_url}", ""]
    return "\n".join(lines)


def _against(value: float | None, within: bool | None) -> dict[str, str]:
    """A duration with whether it is within the SLA, coloured so."""
    return {"text": duration(value) + _verdict(within),
            "color": _GREY if within is None else _GREEN if within else _RED}


def _repeat_text(summary: RepeatSummary) -> list[str]:
    lines = ["", "Repeat customers (customers, bought again, rate, median days to 2nd, "
             "revenue per customer first / repeat):"]
    for r in [summary.overall, *summary.by_campaign]:
        lines.append(
            f"  {r.key:<20}{r.customers:>6,}{r.repeat_customers:>6,}  "
            f"{percent(r.repeat_purchase_rate):>6}  {r.days_to_second_median or '-':>6}  "
            f"{money_or_dash(r.first_revenue_per_customer_minor, summary.currency)} / "
            f"{money_or_dash(r.repeat_revenue_per_customer_minor, summary.currency)}"
            + _bracketed(_note(r.signal, r.small_sample, r.customers)))
    return lines


def _accounts_text(section: TopAccounts) -> list[str]:
    lines = ["", "Top accounts (contacts, customers, deals won, repeat purchases, revenue "
             "first / repeat, owner):"]
    lines += [f"  {a.domain:<24}{a.contacts:>6,}{a.customers:>6,}{a.deals_won:>6,}"
              f"{a.repeat_purchases:>6,}  {money_or_dash(a.first_revenue_minor, section.currency)}"
              f" / {money_or_dash(a.repeat_revenue_minor, section.currency)}"
              f"  {a.owner_rep_name or '-'}" for a in section.accounts] or ["  none won"]
    return lines


def _accounts(digest: Digest) -> list[dict[str, object]] | None:
    """The top-accounts table's rows, or None."""
    section = digest.top_accounts
    if section is None:
        return None
    return [{"domain": a.domain, "owner": a.owner_rep_name or "-", "contacts": a.contacts,
             "customers": a.customers, "deals_won": a.deals_won,
             "repeat_purchases": a.repeat_purchases,
             "revenue": money_or_dash(a.revenue_minor, section.currency),
             "first": money_or_dash(a.first_revenue_minor, section.currency),
             "repeat": money_or_dash(a.repeat_revenue_minor, section.currency)}
            for a in section.accounts]


def _repeat(digest: Digest) -> list[dict[str, object]] | None:
    """The repeat-customer table's rows (overall first, then by campaign), or None."""
    summary = digest.repeat_customers
    if summary is None:
        return None
    return [{"key": r.key, "customers": r.customers, "repeat_customers": r.repeat_customers,
             "rate": percent(r.repeat_purchase_rate),
             "color": _signal_color(r.signal),
             "days": "-" if r.days_to_second_median is None else str(r.days_to_second_median),
             "first": money_or_dash(r.first_revenue_per_customer_minor, summary.currency),
             "repeat": money_or_dash(r.repeat_revenue_per_customer_minor, summary.currency),
             "note": _note(r.signal, r.small_sample, r.customers)}
            for r in [summary.overall, *summary.by_campaign]]


def _segments(title: str, dimension: str, rows: list[Segment]) -> dict[str, object]:
    """One breakdown table's rows: figures, the win rate's colour and bar."""
    def row(r: Segment) -> dict[str, object]:
        return {"key": r.key, "leads": r.leads, "won": r.won, "win_rate": percent(r.win_rate),
                "color": _signal_color(r.signal), "revenue": _revenue(r.revenue_minor),
                "note": _note(r.signal, r.small_sample, r.leads),
                # no bar for none or 0%
                "width": max(1, round(r.win_rate * 120)) if r.win_rate else 0}
    return {"title": title, "dimension": dimension, "rows": [row(r) for r in rows]}


def render_html(digest: Digest, dashboard_url: str) -> str:
    """The HTML alternative (templates/digest.html)."""
    h, p, s = digest.headline, digest.previous_headline, digest.speed_to_lead
    return TEMPLATES.render(
        "digest.html", digest=digest, subject=subject(digest), grey=_GREY, speed=s,
        headline=[(label, getattr(h, name), name, _change(getattr(h, name), getattr(p, name)))
                  for label, name in _HEADLINE_ROWS],
        win_rate=percent(h.win_rate), win_rate_before=percent(p.win_rate),
        revenue=_revenue(h.revenue_minor), sla=duration(s.sla_s),
        median=_against(s.median_s, s.median_within_sla),
        p90=_against(s.p90_s, s.p90_within_sla),
        segments=[_segments("By source", "source", digest.by_source),
                  _segments("By market (country)", "country", digest.by_market)],
        repeat=_repeat(digest), accounts=_accounts(digest),
        dashboard_url=dashboard_url)


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

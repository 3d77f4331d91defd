"""The digest as pure functions: periods, composition from the reports, movers, the email."""

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta

import pytest

from outcomes.digest.domain import DigestInputs, compose
from outcomes.digest.render import message_id, render_email
from outcomes.digest.schedule import parse_schedule, period_at, previous_period
from outcomes.funnel.domain import Stage
from outcomes.reports import domain as reports
from outcomes.reports import sales as sales_reports
from outcomes.reports.markets import LeadRevenue, market_breakdown, parse_market_by
from tests.support.outcomes_stories import generate_stories, story_facts

STORIES = generate_stories(400, seed=5)


@pytest.mark.parametrize(("schedule", "at", "key", "start", "end"), [
    ("week", "2026-11-23T16:00:00", "2026-W48", "2026-11-23", "2026-11-30"),
    ("week", "2026-11-29T23:59:59", "2026-W48", "2026-11-23", "2026-11-30"),
    # ISO weeks cross years: 1 January 2027 is a Friday of 2026-W53.
    ("week", "2027-01-01T08:00:00", "2026-W53", "2026-12-28", "2027-01-04"),
    ("day", "2026-11-23T16:00:00", "2026-11-23", "2026-11-23", "2026-11-24"),
    ("month", "2026-12-31T23:00:00", "2026-12", "2026-12-01", "2027-01-01"),
    ("20s", "2026-11-23T16:50:39", "2026-11-23T16:50:20Z-20s", "2026-11-23T16:50:20",
     "2026-11-23T16:50:40"),
])
def test_periods(schedule: str, at: str, key: str, start: str, end: str) -> None:
    period = period_at(parse_schedule(schedule), datetime.fromisoformat(at).replace(tzinfo=UTC))
    assert (period.key, period.start, period.end) == (
        key, datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC))


@pytest.mark.parametrize("schedule", ["week", "day", "month", "7s", "3600s"])
def test_previous_period_ends_where_the_period_starts(schedule: str) -> None:
    parsed = parse_schedule(schedule)
    period = period_at(parsed, datetime(2026, 3, 1, 0, 0, 5, tzinfo=UTC))
    before = previous_period(parsed, period)
    assert before.end == period.start and before.key != period.key


@pytest.mark.parametrize("value", ["weekly", "0s", "s", "-5s", "1.5s", ""])
def test_bad_schedules_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(value)


def _inputs(start: datetime, end: datetime) -> DigestInputs:
    """The reports of a window, computed as the endpoints compute them."""
    stories = [s for s in STORIES if start <= s.created_at < end]
    leads = [story_facts(s) for s in stories]
    revenue = {s.lead_id: LeadRevenue(1, {"EUR": s.amount_minor}) for s in stories
               if s.outcome == "won"}
    rejected = [story_facts(s) for s in STORIES
                if s.rejected_at and start <= s.rejected_at < end]
    [funnel] = reports.funnel_breakdown(leads, None)
    return DigestInputs(funnel, sales_reports.speed_to_lead(leads),
                        sales_reports.rejection_report(rejected),
                        market_breakdown(leads, revenue, parse_market_by("source"), Stage.won),
                        market_breakdown(leads, revenue, parse_market_by("country"), Stage.won))


WEEK = period_at(parse_schedule("week"), datetime(2026, 10, 14, tzinfo=UTC))
BEFORE = previous_period(parse_schedule("week"), WEEK)


def _digest():  # type: ignore[no-untyped-def]
    return compose(WEEK.key, "week", WEEK.start, WEEK.end, BEFORE.key,
                   _inputs(WEEK.start, WEEK.end), _inputs(BEFORE.start, BEFORE.end), 300.0)


def test_digest_figures_are_the_reports_figures() -> None:
    digest = _digest()
    now, before = _inputs(WEEK.start, WEEK.end), _inputs(BEFORE.start, BEFORE.end)
    h = digest.headline
    assert h.leads == now.funnel.counts["lead"] > 0
    assert (h.mqls, h.handoffs, h.accepted, h.won) == tuple(
        now.funnel.counts[s] for s in ("mql", "handed_off", "accepted", "won"))
    assert h.rejected == now.rejections.total
    assert digest.previous_headline.leads == before.funnel.counts["lead"]
    assert h.revenue_minor == now.by_source.overall.revenue_minor
    assert digest.speed_to_lead.median_s == now.speed.to_first_contact.median_s
    assert digest.speed_to_lead.p90_within_sla == (now.speed.to_first_contact.p90_s <= 300.0)
    assert [s.key for s in digest.by_market] == [r.key for r in now.by_market.rows]
    assert len(digest.top_rejection_reasons) <= 3
    counts = [r.count for r in digest.top_rejection_reasons]
    assert counts == sorted(counts, reverse=True)


def test_movers_are_the_largest_changes_in_leads() -> None:
    digest = _digest()
    now, before = _inputs(WEEK.start, WEEK.end), _inputs(BEFORE.start, BEFORE.end)
    changes = []
    for dimension, a, b in (("source", before.by_source, now.by_source),
                            ("country", before.by_market, now.by_market)):
        old = {r.key: r.leads for r in a.rows}
        new = {r.key: r.leads for r in b.rows}
        changes += [(dimension, k, new.get(k, 0) - old.get(k, 0)) for k in old.keys() | new.keys()
                    if new.get(k, 0) != old.get(k, 0)]
    biggest = sorted(abs(c) for _, _, c in changes)[-len(digest.movers):]
    assert sorted(abs(m.change) for m in digest.movers) == biggest
    assert all(m.change == m.leads - m.previous_leads for m in digest.movers)


def test_email_has_text_and_html_with_the_same_figures_and_a_stable_message_id() -> None:
    digest = _digest()
    message = render_email(digest, "LeadLoop <digest@leadloop.example>",
                           ["a@x.example", "b@x.example"], "http://outcomes/dashboard",
                           datetime(2026, 10, 20, tzinfo=UTC))
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == message_id(WEEK.key) == "<digest.2026.W42@leadloop.local>"
    assert parsed["To"] == "a@x.example, b@x.example"
    text = parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    h = digest.headline
    assert re.search(rf"^New leads: +{h.leads} ", text, re.M), text
    assert re.search(rf"^Won: +{h.won} ", text, re.M), text
    assert f'data-metric="leads">{h.leads:,}<' in html
    assert f'data-metric="won">{h.won:,}<' in html
    for row in digest.by_market:
        assert f'data-metric="country.{row.key}.leads">{row.leads:,}<' in html
    assert "<script" not in html and "src=" not in html  # nothing fetched, nothing run
    assert message_id("2026-11-23T16:50:20Z-20s") == \
        "<digest.2026.11.23T16.50.20Z.20s@leadloop.local>"
    assert WEEK.end - WEEK.start == timedelta(days=7)

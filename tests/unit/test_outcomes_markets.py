"""Market breakdowns as pure functions: grouping, conversion with its Wilson interval, the
comparison with the average, revenue and speed, against numbers computed by other means."""

from dataclasses import replace

import pytest

from outcomes.funnel.domain import Stage, company_size_band
from outcomes.reports.domain import LeadFacts
from outcomes.reports.markets import (
    LeadRevenue,
    Signal,
    market_breakdown,
    parse_market_by,
    property_text,
    signal_of,
    wilson_interval,
)
from tests.support.outcomes_stories import (
    MARKET_KEYS,
    Story,
    expected_markets,
    expected_size_band,
    generate_stories,
    story_facts,
)

STORIES = generate_stories(600, seed=31)


def _facts(story: Story, by: str) -> LeadFacts:
    facts = story_facts(story)
    if by.startswith("property:"):
        name = by.removeprefix("property:")
        return replace(facts, property=property_text(story.properties.get(name)))
    return facts


def _revenue(stories: list[Story]) -> dict:  # type: ignore[type-arg]
    return {s.lead_id: LeadRevenue(1, {"EUR": s.amount_minor})
            for s in stories if s.outcome == "won"}


def test_generated_markets_have_big_and_tiny_groups() -> None:
    sizes = sorted(v["leads"] for v in expected_markets(STORIES, MARKET_KEYS["region"]).values())
    assert sizes[0] < 30 <= sizes[-1]


@pytest.mark.parametrize("by", sorted(MARKET_KEYS))
@pytest.mark.parametrize("stage", ["won", "mql"])
def test_breakdown_matches_direct_computation(by: str, stage: str) -> None:
    report = market_breakdown([_facts(s, by) for s in STORIES], _revenue(STORIES),
                              parse_market_by(by), Stage(stage))
    want = expected_markets(STORIES, MARKET_KEYS[by], stage)
    assert {r.key for r in report.rows} == set(want)
    overall = expected_markets(STORIES, lambda s: "all", stage)["all"]
    assert report.overall.leads == overall["leads"] == len(STORIES)
    average = overall["reached"] / overall["leads"]
    for row in report.rows:
        w = want[row.key]
        assert (row.leads, row.conversion.reached, row.counts["won"]) == \
            (w["leads"], w["reached"], w["won"])
        assert row.small_sample == (w["leads"] < 30)
        assert row.revenue_minor == ({"EUR": w["revenue_eur"]} if w["won"] else {})
        assert row.conversion.ci_low == pytest.approx(w["ci"][0], abs=1e-4)
        assert row.conversion.ci_high == pytest.approx(w["ci"][1], abs=1e-4)
        median, p90 = w["to_first_contact"]
        assert row.to_first_contact.median_s == pytest.approx(median)
        assert row.to_first_contact.p90_s == pytest.approx(p90)
        if w["ci"][0] > average + 1e-4:
            assert row.conversion.signal is Signal.above
        elif w["ci"][1] < average - 1e-4:
            assert row.conversion.signal is Signal.below
        elif w["ci"][0] < average - 1e-4 and w["ci"][1] > average + 1e-4:
            assert row.conversion.signal is Signal.level
    # Ranked: highest conversion first.
    rates = [r.conversion.rate for r in report.rows]
    assert rates == sorted(rates, key=lambda r: -(r or 0.0))


def test_some_market_is_clearly_above_or_below_and_tiny_ones_never_are() -> None:
    report = market_breakdown([_facts(s, "source") for s in STORIES], _revenue(STORIES),
                              parse_market_by("source"), Stage.mql)
    signals = {r.key: r.conversion.signal for r in report.rows}
    assert Signal.above in signals.values() and Signal.below in signals.values()
    three = [LeadFacts(lead_id=s.lead_id, lead_at=s.created_at, country="LU") for s in STORIES[:3]]
    tiny = market_breakdown([_facts(s, "country") for s in STORIES] + three, {},
                            parse_market_by("country"), Stage.mql)
    [luxembourg] = [r for r in tiny.rows if r.key == "LU"]
    # 0 of 3 reached MQL: not "0%, the worst market" but too few to tell.
    assert luxembourg.conversion.rate == 0.0 and luxembourg.small_sample
    assert luxembourg.conversion.signal is Signal.level


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(3, 3) == pytest.approx((0.4385, 1.0), abs=1e-4)


def test_signal_compares_the_whole_interval_with_the_average() -> None:
    assert signal_of((0.3, 0.5), 0.2) is Signal.above
    assert signal_of((0.1, 0.15), 0.2) is Signal.below
    assert signal_of((0.1, 0.5), 0.2) is Signal.level
    assert signal_of(None, 0.2) is Signal.none and signal_of((0.1, 0.2), None) is Signal.none


@pytest.mark.parametrize("size", [None, 0, 1, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001,
                                  5000, 5001, 10**6])
def test_company_size_band_edges(size: int | None) -> None:
    assert company_size_band(size) == expected_size_band(size)


@pytest.mark.parametrize("value", ["country", "region", "company_size", "industry", "source",
                                   "property:plan", "property:utm.x-1"])
def test_market_by_accepts(value: str) -> None:
    assert parse_market_by(value).label == value


@pytest.mark.parametrize("value", ["", "city", "property:", "property:a b", "property:" + "x" * 65,
                                   "Country"])
def test_market_by_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        parse_market_by(value)


def test_property_text_is_what_postgres_gives() -> None:
    assert [property_text(v) for v in (None, "pro", True, False, 5, 2.5)] == \
        [None, "pro", "true", "false", "5", "2.5"]

"""A lead that gave no time zone has its country's, when the country keeps one time: its
quiet hours and waits fall in its working day, not in UTC's."""

from datetime import UTC, datetime, time
from uuid import uuid4

from nurture.leads.domain import LeadState
from nurture.leads.zones import country_zone, keep_one_time, zones_by_country
from nurture.sending.guards import Defer, Recipient, Send, decide
from nurture.sequences.steps import Channel, GuardPolicy, QuietHours

QUIET_NIGHTS = GuardPolicy(max_per_day=5, max_per_week=10,
                           quiet_hours=QuietHours(start=time(21), end=time(8)))


def test_a_country_that_keeps_one_time_has_that_zone() -> None:
    assert country_zone("JP") == "Asia/Tokyo"
    assert country_zone("de") == "Europe/Berlin"  # Berlin and Büsingen keep one time
    assert country_zone("AR") == "America/Argentina/Buenos_Aires"  # twelve zones, one time


def test_a_country_spanning_several_times_has_its_primary_zone_or_none() -> None:
    assert country_zone("ES") == "Europe/Madrid"  # not the Canaries' hour
    assert country_zone("US") is None and country_zone("RU") is None
    assert country_zone(None) is None and country_zone("ZZ") is None


def test_zone_table_and_one_time() -> None:
    table = ("# comment\nES\t+4024-00341\tEurope/Madrid\tSpain (mainland)\n"
             "ES\t+2806-01524\tAtlantic/Canary\tCanary Islands\nJP\t+353916+1394441\tAsia/Tokyo\n")
    assert zones_by_country(table) == {"ES": ["Europe/Madrid", "Atlantic/Canary"],
                                       "JP": ["Asia/Tokyo"]}
    assert keep_one_time(["Europe/Berlin", "Europe/Busingen"], 2026)
    assert not keep_one_time(["Europe/Madrid", "Atlantic/Canary"], 2026)


def test_the_leads_own_zone_wins_then_its_countrys() -> None:
    lead = LeadState(lead_id=uuid4(), attributes={"country": "JP"})
    assert lead.local_zone == "Asia/Tokyo"
    assert lead.model_copy(update={"time_zone": "America/Chicago"}).local_zone == \
        "America/Chicago"
    assert LeadState(lead_id=uuid4(), attributes={"country": "US"}).local_zone is None
    assert LeadState(lead_id=uuid4()).local_zone is None


def test_quiet_hours_are_the_countrys_night_not_utcs() -> None:
    # 00:08 UTC is 09:08 in Tokyo: a Japanese lead's email goes now. Read in UTC it is night,
    # and the email would wait for 08:00 UTC, which is 17:00 in Tokyo.
    now = datetime(2026, 12, 8, 0, 8, tzinfo=UTC)
    lead = LeadState(lead_id=uuid4(), email="aki@example.jp", email_consent=True,
                     attributes={"country": "JP"})
    recipient = Recipient(email=lead.email, email_consent=True, time_zone=lead.local_zone)
    assert decide(recipient, Channel.email, QUIET_NIGHTS, now, []) == Send()
    in_utc = Recipient(email=lead.email, email_consent=True, time_zone=None)
    assert decide(in_utc, Channel.email, QUIET_NIGHTS, now, []) == Defer(
        datetime(2026, 12, 8, 8, 0, tzinfo=UTC), "quiet_hours")

"""The guards before every send: consent, suppression, frequency caps, quiet hours."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from nurture.sending.guards import (
    Defer,
    Recipient,
    Send,
    Skip,
    SkipReason,
    Stop,
    StopReason,
    cap_until,
    decide,
    quiet_until,
    zone_of,
)
from nurture.sequences.steps import Channel, GuardPolicy, QuietHours

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CAPS = GuardPolicy(max_per_day=1, max_per_week=3, quiet_hours=None)
QUIET = QuietHours(start=time(21), end=time(8))
OK = Recipient(email="sam@widgets.example", email_consent=True, time_zone=None)


def test_consenting_lead_with_nothing_recent_is_sent_to_now() -> None:
    assert decide(OK, Channel.email, CAPS, NOON, []) == Send()


def test_lead_without_email_marketing_consent_is_skipped() -> None:
    lead = Recipient(email="sam@widgets.example", email_consent=False, time_zone=None)
    assert decide(lead, Channel.email, CAPS, NOON, []) == Skip(SkipReason.no_consent)
    assert decide(lead, Channel.sms, CAPS, NOON, []) == Skip(SkipReason.no_consent)


def test_phone_channels_need_a_phone_and_direct_mail_a_postal_address() -> None:
    with_phone = Recipient(email=None, email_consent=True, time_zone=None, phone="+4930123456")
    no_phone = Recipient(email="sam@widgets.example", email_consent=True, time_zone=None)
    for channel in (Channel.sms, Channel.voice, Channel.fax):
        assert decide(with_phone, channel, CAPS, NOON, []) == Send()
        assert decide(no_phone, channel, CAPS, NOON, []) == Skip(SkipReason.no_phone)
    assert decide(with_phone, Channel.direct_mail, CAPS, NOON, []) == \
        Skip(SkipReason.no_postal_address)
    addressed = Recipient(email=None, email_consent=True, time_zone=None,
                          postal_address={"street": "1 Main St", "city": "Springfield",
                                          "country": "US"})
    assert decide(addressed, Channel.direct_mail, CAPS, NOON, []) == Send()


def test_suppressed_leads_stop_the_sequence_on_every_channel() -> None:
    # An unsubscribe, a spam complaint or a hard bounce: no SMS, call, fax or letter either.
    for flags, reason in (({"unsubscribed": True}, StopReason.unsubscribed),
                          ({"bounced": True}, StopReason.bounced),
                          ({"erased": True}, StopReason.erased)):
        lead = Recipient(email="a@b.example", email_consent=True, time_zone=None,
                         phone="+4930123456", postal_address={"street": "1 Main St"}, **flags)
        for channel in Channel:
            assert decide(lead, channel, CAPS, NOON, []) == Stop(reason), channel


def test_daily_cap_defers_until_a_day_after_the_last_message() -> None:
    sent = [NOON - timedelta(hours=3)]
    assert decide(OK, Channel.email, CAPS, NOON, sent) == Defer(
        NOON + timedelta(hours=21), "frequency_cap")


def test_weekly_cap_defers_until_the_oldest_of_the_week_slides_out() -> None:
    sent = [NOON - timedelta(days=6), NOON - timedelta(days=4), NOON - timedelta(days=2)]
    assert cap_until(NOON, sent, CAPS) == NOON + timedelta(days=1)


def test_messages_older_than_the_windows_do_not_count() -> None:
    sent = [NOON - timedelta(days=8), NOON - timedelta(days=1, seconds=1)]
    assert cap_until(NOON, sent, CAPS) is None


def test_quiet_hours_spanning_midnight_end_at_the_local_morning() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 11, 23, 22, 30, tzinfo=berlin)
    early = datetime(2026, 11, 24, 6, 0, tzinfo=berlin)
    morning = datetime(2026, 11, 24, 8, 0, tzinfo=berlin)
    assert quiet_until(late, QUIET, berlin) == morning
    assert quiet_until(early, QUIET, berlin) == morning
    assert quiet_until(datetime(2026, 11, 24, 8, 0, tzinfo=berlin), QUIET, berlin) is None


def test_quiet_hours_are_the_leads_not_ours() -> None:
    # 12:00 UTC is 21:00 in Tokyo: quiet there until 08:00 local (23:00 UTC).
    tokyo = Recipient(email="a@b.example", email_consent=True, time_zone="Asia/Tokyo")
    policy = GuardPolicy(max_per_day=5, max_per_week=5, quiet_hours=QUIET)
    assert decide(tokyo, Channel.email, policy, NOON, []) == Defer(
        datetime(2026, 11, 23, 23, 0, tzinfo=UTC), "quiet_hours")
    assert decide(OK, Channel.email, policy, NOON, []) == Send()


def test_a_cap_that_ends_in_quiet_hours_waits_for_the_morning() -> None:
    policy = GuardPolicy(max_per_day=1, max_per_week=5, quiet_hours=QUIET)
    sent = [datetime(2026, 11, 22, 22, 0, tzinfo=UTC)]
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # quiet, and capped until 22:00
    decision = decide(OK, Channel.email, policy, now, sent)
    assert decision == Defer(datetime(2026, 11, 24, 8, 0, tzinfo=UTC), "quiet_hours")


def test_unknown_time_zone_falls_back_to_the_default() -> None:
    assert zone_of("Mars/Olympus", "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert zone_of(None) == ZoneInfo("UTC")

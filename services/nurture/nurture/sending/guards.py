"""The checks before every send: consent, suppression, frequency caps, quiet hours. No I/O."""

from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nurture.sequences.steps import Channel, GuardPolicy, QuietHours

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class SkipReason(StrEnum):
    """Why a send step is passed over for good (the sequence moves on without it)."""

    no_consent = "no_consent"
    no_address = "no_address"
    # SMS, voice and fax need a phone number.
    no_phone = "no_phone"
    # Direct mail needs a postal address.
    no_postal_address = "no_postal_address"


class StopReason(StrEnum):
    """Why nothing may ever be sent to the lead again: the enrollment exits."""

    unsubscribed = "unsubscribed"
    bounced = "bounced"
    erased = "erased"


@dataclass(frozen=True)
class Recipient:
    """What the guards know of a lead when a send is due."""

    email: str | None
    email_consent: bool
    time_zone: str | None
    unsubscribed: bool = False
    bounced: bool = False
    erased: bool = False
    phone: str | None = None
    postal_address: Mapping[str, Any] | None = None


PHONE_CHANNELS = (Channel.sms, Channel.voice, Channel.fax)


@dataclass(frozen=True)
class Send:
    """Send now."""


@dataclass(frozen=True)
class Skip:
    """Pass this step over and go on."""

    reason: SkipReason


@dataclass(frozen=True)
class Defer:
    """Try again at `until` (a cap or quiet hours)."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Stop:
    """Suppressed: exit the sequence."""

    reason: StopReason


Decision = Send | Skip | Defer | Stop


def zone_of(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The lead's time zone, or `default` when unknown or invalid."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_until(moment: datetime, quiet: QuietHours, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours around `moment` end, in the lead's zone; None if not quiet."""
    local = moment.astimezone(zone)
    now_t = local.time().replace(tzinfo=None)
    if quiet.start == quiet.end:
        return None
    if quiet.start < quiet.end:  # e.g. 12:00-14:00 the same day
        inside = quiet.start <= now_t < quiet.end
        end_day = local.date()
    else:  # spans midnight, e.g. 21:00-08:00
        inside = now_t >= quiet.start or now_t < quiet.end
        end_day = local.date() + (DAY if now_t >= quiet.start else timedelta(0))
    if not inside:
        return None
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(moment.tzinfo)


def cap_until(now: datetime, sent_at: Seq[datetime], policy: GuardPolicy) -> datetime | None:
    """When the frequency caps allow the next message; None if they allow it now."""
    latest: datetime | None = None
    for window, limit in ((DAY, policy.max_per_day), (WEEK, policy.max_per_week)):
        recent = sorted(t for t in sent_at if t > now - window)
        if len(recent) >= limit:
            # The window must slide past the limit-th most recent message.
            allowed = recent[-limit] + window
            latest = allowed if latest is None or allowed > latest else latest
    return latest


def decide(recipient: Recipient, channel: Channel, policy: GuardPolicy, now: datetime,
           sent_at: Seq[datetime], default_zone: str = "UTC") -> Decision:
    """Whether to send now, and if not, whether to skip, wait, or stop for good."""
    if recipient.erased:
        return Stop(StopReason.erased)
    # An unsubscribe, spam complaint or hard bounce stops every channel, not only email:
    # the person said stop, or the record is dead.
    if recipient.unsubscribed:
        return Stop(StopReason.unsubscribed)
    if recipient.bounced:
        return Stop(StopReason.bounced)
    if not recipient.email_consent:
        # Consent is recorded for marketing as a whole; no consent, no channel.
        return Skip(SkipReason.no_consent)
    if channel == Channel.email and not recipient.email:
        return Skip(SkipReason.no_address)
    if channel in PHONE_CHANNELS and not recipient.phone:
        return Skip(SkipReason.no_phone)
    if channel == Channel.direct_mail and not recipient.postal_address:
        return Skip(SkipReason.no_postal_address)
    zone = zone_of(recipient.time_zone, default_zone)
    moment = now
    # A cap can push the send into quiet hours and quiet hours past nothing else: two rounds.
    reason = ""
    for _ in range(3):
        capped = cap_until(moment, sent_at, policy)
        if capped is not None and capped > moment:
            moment, reason = capped, "frequency_cap"
            continue
        quiet = quiet_until(moment, policy.quiet_hours, zone) if policy.quiet_hours else None
        if quiet is not None:
            moment, reason = quiet, "quiet_hours"
            continue
        break
    return Send() if moment == now else Defer(until=moment, reason=reason)

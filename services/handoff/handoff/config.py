"""Handoff's settings: environment variables prefixed LEADLOOP_HANDOFF_."""

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadloop.settings import MailingServiceSettings, OutboundHttpSettings


class HandoffSettings(MailingServiceSettings, OutboundHttpSettings):
    """Handoff's settings: it sends mail (queue alerts) and calls the URLs admins configure
    (webhooks; `webhook_allowed_networks` from OutboundHttpSettings)."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_HANDOFF_", extra="ignore")

    service_name: str = "handoff"
    port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/handoff"

    # How long a rep has to accept a handed-off lead, in seconds of the rep's working time
    # (clock time for a rep without working hours); a routing rule's accept_sla_s overrides it.
    accept_sla_s: float = Field(default=300.0, gt=0)
    # The accept SLA of an existing customer's new interest, handed to its owner (reason
    # existing_customer): its own, as an owner plans a known customer's call differently.
    customer_accept_sla_s: float = Field(default=4 * 3600.0, gt=0)
    # The team every qualified lead is routed to until routing rules choose one.
    default_team: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")

    # After this many missed deadlines on one lead, it goes to the breaching rep's manager.
    escalate_after_breaches: int = Field(default=2, ge=1)
    # How often the SLA timer worker looks for due timers when none were due.
    sla_poll_interval_s: float = Field(default=0.5, gt=0)
    # The most due SLA timers fired in one transaction (a burst of reminders is one UPDATE per
    # batch); the transaction holds their assignments until it commits.
    sla_batch_size: int = Field(default=200, ge=1, le=10_000)
    # Of those, the most breaches handled in one round: a breach routes its lead again, and the
    # pools it routes in stay locked until the round commits, so routing new leads into them
    # waits for the round. A few breaches a round keep that wait short in a burst of lapsed
    # deadlines; the rest follow in the next rounds, at once.
    sla_breaches_per_round: int = Field(default=20, ge=1, le=10_000)
    # The fallback queue is routed again at once when a rep or an assignment changes on this
    # replica, and at least this often (absences and working hours end with time alone), at
    # most queue_drain_batch leads, oldest first, per round.
    queue_drain_interval_s: float = Field(default=60.0, gt=0)
    queue_drain_batch: int = Field(default=500, ge=1)
    # A lead in the fallback queue alerts its team's managers (webhook and email) at once, and
    # again every queue_realert_s while it is still there.
    queue_realert_s: float = Field(default=1800.0, gt=0)
    mail_from: str = "LeadLoop <sales@leadloop.example>"

    # The sales page (/sales): its session cookie is signed with this (a long random value, the
    # same on every replica; unset: random per process, sessions end at a restart) and lasts
    # page_session_s from sign-in. It shows each lead's timeline and score explanation from
    # outcomes' API at outcomes_url, with outcomes_key (a key with outcomes' leads:read scope);
    # unset, the lead page says the timeline is not configured.
    page_session_secret: str = ""
    page_session_s: float = Field(default=12 * 3600.0, gt=0, le=30 * 24 * 3600.0)
    outcomes_url: str = ""
    outcomes_key: str = ""
    outcomes_timeout_s: float = Field(default=3.0, gt=0)

    # Webhooks: worker polling, timeout per attempt, exponential backoff with jitter from
    # retry_base up to retry_max between attempts, for at most retry_window; then the
    # delivery fails and its subscriber is disabled until an admin enables it again.
    webhook_poll_interval_s: float = Field(default=0.5, gt=0)
    webhook_batch_size: int = Field(default=50, ge=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retry_base_s: float = Field(default=2.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_retry_window_s: float = Field(default=24 * 3600.0, gt=0)
    # How long a rotated-out secret keeps signing next to the new one.
    webhook_secret_overlap_s: float = Field(default=24 * 3600.0, ge=0)

    @property
    def accept_sla(self) -> timedelta:
        """The accept SLA as a duration."""
        return timedelta(seconds=self.accept_sla_s)

    @property
    def customer_accept_sla(self) -> timedelta:
        """The accept SLA of an existing customer's hand-off, as a duration."""
        return timedelta(seconds=self.customer_accept_sla_s)


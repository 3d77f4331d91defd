"""Account rollups (outcomes.account_rollup): a company's contacts, deals, customers, owner and
first / repeat revenue, with the repeat-customer report's sample discipline; the account column
the funnel fold keeps (outcomes.funnel_facts)."""

import uuid
from datetime import UTC, datetime, timedelta

from leadloop.events.models import LeadCreated, LeadHandedOff, LeadMerged, LeadProfile, RepRef
from outcomes.accounts.domain import (
    AccountSort,
    Contact,
    ContactFilter,
    OwnerBasis,
    account_rollup,
    rows_after,
    sort_rows,
    sort_value,
)
from outcomes.digest.domain import top_accounts
from outcomes.funnel.facts import fold_funnel
from outcomes.reports.markets import Signal
from outcomes.reports.repeat import WonDeal

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ANN, BOB = uuid.uuid4(), uuid.uuid4()


def _contact(account: str, stage: str | None = "lead", rep: uuid.UUID | None = None,
             rep_days: float = 0, campaign: str | None = "spring") -> Contact:
    return Contact(lead_id=uuid.uuid4(), account=account, stage=stage, rep_id=rep,
                   rep_name={ANN: "Ann", BOB: "Bob"}.get(rep) if rep else None,
                   rep_at=T0 + timedelta(days=rep_days) if rep else None, campaign=campaign,
                   source="linkedin", country="DE")


def _won(contact: Contact, days: float, amount: int, currency: str = "EUR") -> WonDeal:
    return WonDeal(uuid.uuid4(), contact.lead_id, amount, currency, T0 + timedelta(days=days))


def test_an_account_rolls_up_its_contacts_deals_and_repeat_purchases() -> None:
    jane = _contact("acme.com", "repeat_customer", ANN, rep_days=1)
    tom = _contact("acme.com", "customer", BOB, rep_days=5)
    eve = _contact("acme.com", "mql")
    other = _contact("globex.com", "customer", BOB)
    won = [_won(jane, 2, 400_000), _won(jane, 40, 150_000), _won(tom, 10, 100_000),
           _won(other, 3, 50_000), _won(other, 4, 10, currency="USD")]
    rollup = account_rollup([jane, tom, eve, other], won, lost={eve.lead_id: 1},
                            opened={jane.lead_id: 2, tom.lead_id: 1, eve.lead_id: 1,
                                    other.lead_id: 2}, min_sample=2)
    acme = next(r for r in rollup.rows if r.domain == "acme.com")
    assert (acme.contacts, acme.customers, acme.repeat_customers) == (3, 2, 1)
    assert acme.leads_by_stage == {"customer": 1, "mql": 1, "repeat_customer": 1}
    assert (acme.deals_opened, acme.deals_won, acme.deals_lost) == (4, 3, 1)
    # a repeat purchase is a new deal: Jane's second one; Tom's first is a first purchase
    assert (acme.purchases, acme.repeat_purchases) == (3, 1)
    assert (acme.first_revenue_minor, acme.repeat_revenue_minor, acme.revenue_minor) == (
        500_000, 150_000, 650_000)
    assert acme.first_purchase_at == T0 + timedelta(days=2)
    assert acme.last_purchase_at == T0 + timedelta(days=40)
    # the rep of the latest won deal (Jane's, day 40) owns it, though Tom's hand-off is later
    assert (acme.owner_rep_id, acme.owner_rep_name, acme.owner_basis) == (
        ANN, "Ann", OwnerBasis.won_latest_deal)
    assert acme.repeat_purchase_rate == 0.5 and acme.small_sample is False
    assert acme.ci_low is not None and acme.ci_high is not None
    assert acme.ci_low < 0.5 < acme.ci_high
    # revenue in the main currency (EUR): the USD deal counts as a deal, not as revenue
    globex = next(r for r in rollup.rows if r.domain == "globex.com")
    assert (globex.deals_won, globex.revenue_minor, globex.small_sample) == (2, 50_000, True)
    assert rollup.currency == "EUR"
    # compared with all accounts' customers: 2 of 3 bought again
    assert rollup.repeat_purchase_rate == round(2 / 3, 4)


def test_without_a_won_deal_the_latest_hand_off_names_the_owner() -> None:
    early, late = _contact("initech.com", rep=ANN, rep_days=1), \
        _contact("initech.com", rep=BOB, rep_days=3)
    nobody = _contact("hooli.com")
    rollup = account_rollup([early, late, nobody], [], {}, {})
    initech = next(r for r in rollup.rows if r.domain == "initech.com")
    assert (initech.owner_rep_name, initech.owner_basis) == ("Bob", OwnerBasis.latest_hand_off)
    assert (initech.customers, initech.repeat_purchase_rate, initech.signal) == (
        0, None, Signal.none)
    hooli = next(r for r in rollup.rows if r.domain == "hooli.com")
    assert (hooli.owner_rep_id, hooli.owner_basis) == (None, None)
    assert rollup.currency is None


def test_filters_narrow_the_contacts_an_account_counts() -> None:
    spring, fall = _contact("acme.com", campaign="spring"), _contact("acme.com", campaign="fall")
    won = [_won(spring, 1, 100), _won(fall, 2, 900)]
    rollup = account_rollup([spring, fall], won, {}, {}, keep=ContactFilter(campaign="fall"))
    [acme] = rollup.rows
    assert (acme.contacts, acme.deals_won, acme.revenue_minor) == (1, 1, 900)
    assert account_rollup([spring], won, {}, {}, keep=ContactFilter(country="FR")).rows == []


def test_accounts_sort_by_revenue_and_page_past_a_cursor_without_gaps_or_repeats() -> None:
    contacts = [_contact(f"c{i:02}.com") for i in range(7)]
    # two ties at 500: the domain breaks them
    amounts = [100, 500, 300, 500, 0, 700, 200]
    won = [_won(c, 1, a) for c, a in zip(contacts, amounts, strict=True) if a]
    rows = sort_rows(account_rollup(contacts, won, {}, {}).rows, AccountSort.revenue)
    assert [r.domain for r in rows] == ["c05.com", "c01.com", "c03.com", "c02.com", "c06.com",
                                        "c00.com", "c04.com"]
    seen, after = [], None
    while True:
        page = rows_after(rows, AccountSort.revenue, after)[:3]
        seen += [r.domain for r in page]
        if len(page) < 3:
            break
        after = (sort_value(page[-1], AccountSort.revenue), page[-1].domain)
    assert seen == [r.domain for r in rows]
    by_domain = sort_rows(rows, AccountSort.domain)
    assert [r.domain for r in rows_after(by_domain, AccountSort.domain, ("c04.com", "c04.com"))
            ] == ["c05.com", "c06.com"]


def _profile(email: str) -> LeadProfile:
    return LeadProfile(email=email, country="DE")


def test_the_funnel_row_keeps_the_company_domain_the_hand_off_account_and_merges() -> None:
    lead = uuid.uuid4()
    created = LeadCreated(lead_id=lead, profile=_profile("Jane@Acme.CO.UK"), created_at=T0)
    handed = LeadHandedOff(
        lead_id=lead, assignment_id=uuid.uuid4(),
        rep=RepRef(id=ANN, name="Ann", email="ann@leadloop.example"), routing_rule="r",
        routing_reason="x", profile=_profile("jane@acme.co.uk"), score=80, grade="A",
        qualified_at=T0, handed_off_at=T0 + timedelta(hours=1), account="acme.com")
    row = fold_funnel([handed, created]).rows[lead]
    # the email's company domain, and the account handoff named (an admin alias applied)
    assert (row["account"], row["handed_off_account"]) == ("acme.co.uk", "acme.com")
    free = LeadCreated(lead_id=uuid.uuid4(), profile=_profile("jo@gmail.com"), created_at=T0)
    assert fold_funnel([free]).rows[free.lead_id]["account"] is None
    merged = LeadMerged(lead_id=lead, merged_lead_id=uuid.uuid4(), merge_id=uuid.uuid4(),
                        profile=_profile("jane@initech.com"), merged_at=T0 + timedelta(days=1))
    assert fold_funnel([created, merged]).rows[lead]["account"] == "initech.com"
    assert fold_funnel([merged, created]).rows[lead]["account"] == "initech.com"


def test_the_digest_lists_the_accounts_with_the_most_won_revenue() -> None:
    contacts = [_contact(f"c{i}.com") for i in range(7)]
    won = [_won(c, 1, 100 * (i + 1)) for i, c in enumerate(contacts[:6])]
    section = top_accounts(account_rollup(contacts, won, {}, {}))
    assert section is not None and section.currency == "EUR"
    # five at most, largest first; an account that won nothing is not a top account
    assert [a.domain for a in section.accounts] == ["c5.com", "c4.com", "c3.com", "c2.com",
                                                    "c1.com"]
    assert top_accounts(account_rollup(contacts[6:], [], {}, {})).accounts == []  # type: ignore[union-attr]
    assert top_accounts(None) is None

"""Who sees which leads: a rep its own, a manager its team's and reports', an integration all;
and who hears of a lead waiting in the fallback queue."""

from uuid import UUID

import pytest

from handoff.exceptions import NotAManager, NotYourLead, UnknownRep
from handoff.queue.alerts import managers_of
from handoff.routing.domain import RepProfile
from handoff.routing.reference import Rep, RoutingTables
from handoff.sales.access import viewer_of
from leadloop.auth import Principal

ANN, BOB, MIA, ZED, OUT = (UUID(int=n) for n in range(1, 6))


def _rep(rep_id: UUID, team: str, manager_id: UUID | None = None) -> Rep:
    return Rep(RepProfile(id=rep_id, name=str(rep_id.int), team=team, manager_id=manager_id),
               f"{rep_id.int}@sales.example")


# Ann and Bob sell in "dach" and report to Mia (who sits in "mgmt"); Zed sells in "nordics".
TABLES = RoutingTables.of([], [_rep(ANN, "dach", MIA), _rep(BOB, "dach", MIA),
                               _rep(MIA, "mgmt"), _rep(ZED, "nordics")])


def _key(rep_id: UUID | None, *scopes: str) -> Principal:
    return Principal(name="k", scopes=frozenset(scopes or {"sales"}), rep_id=rep_id)


def test_a_reps_key_sees_its_own_leads_and_not_a_colleagues() -> None:
    ann = viewer_of(_key(ANN), TABLES)
    assert ann.may_see(ANN, "dach")
    assert not ann.may_see(BOB, "dach")
    assert not ann.may_see(None, "dach")  # the fallback queue is for managers
    with pytest.raises(NotYourLead):
        ann.check(BOB, "dach")
    with pytest.raises(NotAManager):
        ann.check_manager()


def test_a_rep_with_reports_manages_their_teams_and_not_others() -> None:
    mia = viewer_of(_key(MIA), TABLES)
    assert mia.manager and mia.teams == {"dach", "mgmt"}
    assert mia.may_see(BOB, "dach") and mia.may_see(None, "dach")
    assert not mia.may_see(ZED, "nordics") and not mia.may_see(None, "nordics")
    assert mia.may_assign_to(ANN, "dach") and not mia.may_assign_to(ZED, "nordics")


def test_the_sales_manage_scope_makes_a_rep_manager_of_its_own_team() -> None:
    zed = viewer_of(_key(ZED, "sales", "sales:manage"), TABLES)
    assert zed.manager and zed.teams == {"nordics"}
    assert zed.may_see(None, "nordics") and not zed.may_see(ANN, "dach")


def test_a_key_bound_to_no_rep_is_an_integration_that_sees_everything() -> None:
    crm = viewer_of(_key(None), TABLES)
    assert crm.sees_all and crm.may_see(ZED, "nordics") and not crm.manager
    assert viewer_of(_key(None, "sales", "sales:manage"), TABLES).manager


def test_a_key_of_a_deleted_rep_is_refused() -> None:
    with pytest.raises(UnknownRep):
        viewer_of(_key(OUT), TABLES)


def test_the_managers_alerted_for_a_team_are_those_its_reps_report_to() -> None:
    assert [r.id for r in managers_of(TABLES, "dach")] == [MIA]
    assert managers_of(TABLES, "nordics") == []
    # A manager sitting in the team itself is alerted about it too.
    assert [r.id for r in managers_of(TABLES, "mgmt")] == [MIA]

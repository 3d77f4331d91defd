"""Who may see and act on which leads, pure: a rep sees its own, a manager its team's.

A key bound to a rep (minted with POST /v1/reps/{id}/keys, or configured with a rep_id) acts
as that rep: it sees and acts on the assignments the rep holds. The rep is a manager when other
reps report to it (their manager_id) or when its key has the `sales:manage` scope; a manager
also sees its own team's and its reports' assignments and the fallback queue of those teams,
and may assign their leads by hand. A configured key bound to no rep is an integration (a CRM
sync, a sales tool): it sees every lead, and assigns only with `sales:manage`.
"""

from dataclasses import dataclass
from uuid import UUID

from handoff.exceptions import NotAManager, NotYourLead, UnknownRep
from handoff.routing.reference import RoutingTables
from leadloop.auth import SALES_MANAGE_SCOPE, Principal


@dataclass(frozen=True, slots=True)
class Viewer:
    """What one caller may see: everything, or its rep's leads and the teams it manages."""

    actor: str  # recorded as who did an action
    rep_id: UUID | None
    sees_all: bool
    manager: bool
    teams: frozenset[str] = frozenset()  # teams whose queues it manages
    reports: frozenset[UUID] = frozenset()  # reps reporting to it (any team)

    def may_see(self, rep_id: UUID | None, team: str) -> bool:
        """Whether the caller may see (and act on) an assignment held by `rep_id` in `team`
        (rep None: waiting in the fallback queue)."""
        if self.sees_all or (rep_id is not None and rep_id == self.rep_id):
            return True
        return self.manager and (team in self.teams or rep_id in self.reports)

    def check(self, rep_id: UUID | None, team: str) -> None:
        """Raise NotYourLead unless the caller may see this assignment."""
        if not self.may_see(rep_id, team):
            raise NotYourLead("this lead is held by another rep; your key sees only "
                              + ("your team's leads" if self.manager else "your own leads"))

    def check_manager(self) -> None:
        """Raise NotAManager unless the caller manages."""
        if not self.manager:
            raise NotAManager("only a manager (a rep others report to, or a key with the "
                              f"'{SALES_MANAGE_SCOPE}' scope) may do this")

    def may_assign_to(self, rep_id: UUID, team: str) -> bool:
        """Whether the caller may hand a lead to this rep (its own team or its reports)."""
        return self.sees_all or rep_id == self.rep_id or team in self.teams \
            or rep_id in self.reports


def viewer_of(principal: Principal, tables: RoutingTables) -> Viewer:
    """The caller's view, from its key and the reps as routing keeps them."""
    manages_by_scope = principal.has(SALES_MANAGE_SCOPE)
    if principal.rep_id is None:
        return Viewer(principal.name, None, sees_all=True, manager=manages_by_scope)
    rep = tables.rep(principal.rep_id)
    if rep is None:
        raise UnknownRep("the rep this key is bound to no longer exists")
    reports = frozenset(r.id for r in tables.reps if r.profile.manager_id == rep.id)
    manager = bool(reports) or manages_by_scope
    teams = frozenset({rep.team} | {r.team for r in tables.reps if r.id in reports}) \
        if manager else frozenset()
    return Viewer(principal.name, rep.id, sees_all=False, manager=manager, teams=teams,
                  reports=reports)

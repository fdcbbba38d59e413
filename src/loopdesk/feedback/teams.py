"""Teams, their members (skills, time zone, on-call windows) and the routing rules. `TeamRepository` is the only
code that writes the teams, team_members and routing_rules tables; admins change them through `TeamService`,
staff read them, and the router (`routing.py`) reads through the repository. Services flush; the request owns
the transaction, and each change is on the audit trail."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit import service as audit
from loopdesk.core.errors import Conflict, LoopdeskError, NotFound
from loopdesk.feedback.models import FINAL_STAGES, RoutingRule, Task, Team, TeamMember
from loopdesk.feedback.team_schemas import RoutingRuleWrite, TeamCreate, TeamMemberWrite, TeamUpdate
from loopdesk.users.models import SYSTEM_USER_ID, Role, User
from loopdesk.users.repository import UserRepository

log = structlog.get_logger("loopdesk.feedback.teams")

STAFF_ROLES = (Role.admin.value, Role.staff.value)


class TeamNotFound(NotFound):
    code, message = "team_not_found", "Team not found"


class TeamNameTaken(Conflict):
    code, message = "team_name_taken", "A team with this name already exists"


class TeamInUse(Conflict):
    code, message = "team_in_use", "The team has open tasks: reassign or close them first"


class NotStaff(LoopdeskError):
    status_code, code, message = 422, "not_staff", "Team members and leads must be active staff or admins"


class DuplicateMember(LoopdeskError):
    status_code, code, message = 422, "duplicate_member", "A user is listed twice among the members"


class UnknownTeam(LoopdeskError):
    status_code, code, message = 422, "unknown_team", "A routing rule names a team that does not exist"


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    members: list[TeamMember]


class TeamRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    # -- teams and members ------------------------------------------------------------------------------

    async def list(self) -> list[Team]:
        return list(await self.session.scalars(select(Team).order_by(Team.name, Team.id)))

    async def get(self, team_id: uuid.UUID, *, for_update: bool = False) -> Team | None:
        statement = select(Team).where(Team.id == team_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def name_taken(self, name: str, *, except_id: uuid.UUID | None = None) -> bool:
        statement = select(Team.id).where(func.lower(Team.name) == name.lower())
        if except_id is not None:
            statement = statement.where(Team.id != except_id)
        return await self.session.scalar(statement.limit(1)) is not None

    async def existing_ids(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        wanted = set(ids)
        if not wanted:
            return set()
        return set(await self.session.scalars(select(Team.id).where(Team.id.in_(wanted))))

    async def members_of(self, team_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[TeamMember]]:
        found: dict[uuid.UUID, list[TeamMember]] = defaultdict(list)
        if team_ids:
            statement = (
                select(TeamMember)
                .where(TeamMember.team_id.in_(team_ids))
                .order_by(TeamMember.created_at, TeamMember.user_id)
                .execution_options(populate_existing=True)  # members may have been replaced in this session
            )
            for member in await self.session.scalars(statement):
                found[member.team_id].append(member)
        return found

    async def routable_members(self, team_id: uuid.UUID) -> list[TeamMember]:
        """Active members whose account is still active staff or an admin (never the system account)."""
        statement = (
            select(TeamMember)
            .join(User, User.id == TeamMember.user_id)
            .where(
                TeamMember.team_id == team_id,
                TeamMember.active,
                User.is_active,
                User.role.in_(STAFF_ROLES),
                User.id != SYSTEM_USER_ID,
            )
            .order_by(TeamMember.user_id)
        )
        return list(await self.session.scalars(statement))

    async def add(self, team: Team) -> Team:
        self.session.add(team)
        await self._flush_team()
        return team

    async def save(self, team: Team) -> Team:
        """Flush the team's changes and read back what the database set (`updated_at`)."""
        await self._flush_team()
        await self.session.refresh(team)
        return team

    async def _flush_team(self) -> None:
        try:
            await self.session.flush()
        except IntegrityError as exc:  # a concurrent request took the name between our check and the write
            if "uq_teams_name" in str(exc.orig):
                raise TeamNameTaken() from None
            raise

    async def replace_members(self, team_id: uuid.UUID, members: Sequence[dict[str, Any]]) -> None:
        """The team's members become exactly these; a member kept keeps their row (and `created_at`)."""
        await self.session.execute(
            delete(TeamMember).where(
                TeamMember.team_id == team_id, TeamMember.user_id.not_in([m["user_id"] for m in members])
            )
        )
        if members:
            statement = insert(TeamMember).values([{**m, "team_id": team_id} for m in members])
            fields = ("skills", "timezone", "on_call", "active")
            statement = statement.on_conflict_do_update(
                index_elements=[TeamMember.team_id, TeamMember.user_id],
                set_={field: statement.excluded[field] for field in fields},
            )
            await self.session.execute(statement)

    async def delete(self, team: Team) -> None:
        """Members and the rules naming the team go with it (ON DELETE CASCADE)."""
        await self.session.delete(team)
        await self.session.flush()

    # -- the team's tasks and its members' load ----------------------------------------------------------

    async def count_open_tasks(self, team_id: uuid.UUID) -> int:
        statement = select(func.count()).where(Task.team_id == team_id, Task.workflow_stage.not_in(FINAL_STAGES))
        return int(await self.session.scalar(statement) or 0)

    async def detach_finished_tasks(self, team_id: uuid.UUID) -> int:
        """Closed and rejected tasks forget a deleted team (their timeline still names it)."""
        statement = (
            update(Task)
            .where(Task.team_id == team_id, Task.workflow_stage.in_(FINAL_STAGES))
            .values(team_id=None)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount  # type: ignore[attr-defined]

    async def workload(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
        """Per user: (open tasks assigned, all tasks ever assigned); users with none are left out."""
        if not user_ids:
            return {}
        statement = (
            select(
                Task.assignee_id,
                func.count().filter(Task.workflow_stage.not_in(FINAL_STAGES)),
                func.count(),
            )
            .where(Task.assignee_id.in_(user_ids))
            .group_by(Task.assignee_id)
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in await self.session.execute(statement)}

    async def lock_for_routing(self, team_id: uuid.UUID) -> None:
        """Until the transaction ends: two tasks routed into one team at once see each other's assignment."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('team-routing'), hashtext(:team))"), {"team": str(team_id)}
        )

    # -- escalation contacts -----------------------------------------------------------------------------

    async def active_staff(self, user_id: uuid.UUID) -> User | None:
        statement = select(User).where(
            User.id == user_id, User.is_active, User.role.in_(STAFF_ROLES), User.id != SYSTEM_USER_ID
        )
        return await self.session.scalar(statement)

    async def active_admins(self) -> list[User]:
        statement = (
            select(User)
            .where(User.role == Role.admin.value, User.is_active, User.id != SYSTEM_USER_ID)
            .order_by(User.created_at, User.id)
        )
        return list(await self.session.scalars(statement))

    # -- routing rules -----------------------------------------------------------------------------------

    async def rules(self) -> list[RoutingRule]:
        return list(await self.session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))

    async def replace_rules(self, rules: Sequence[RoutingRule]) -> list[RoutingRule]:
        # Self-conflicting but not with plain reads: concurrent replacements queue, routers read the old or the
        # new list, never a mix.
        await self.session.execute(text("LOCK TABLE routing_rules IN SHARE ROW EXCLUSIVE MODE"))
        await self.session.execute(delete(RoutingRule))
        self.session.add_all(rules)
        await self.session.flush()
        return await self.rules()


class TeamService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repository = TeamRepository(session)
        self.users = UserRepository(session)

    async def list(self) -> list[TeamView]:
        teams = await self.repository.list()
        members = await self.repository.members_of([team.id for team in teams])
        return [TeamView(team, members.get(team.id, [])) for team in teams]

    async def get(self, team_id: uuid.UUID) -> TeamView:
        team = await self._team(team_id)
        return TeamView(team, (await self.repository.members_of([team.id])).get(team.id, []))

    async def create(self, actor: User, data: TeamCreate) -> TeamView:
        if await self.repository.name_taken(data.name):
            raise TeamNameTaken(detail={"name": data.name})
        if data.lead_id is not None:
            await self._require_staff(data.lead_id, "lead_id")
        members = await self._members(data.members)
        team = Team(
            id=uuid.uuid4(), name=data.name, description=data.description, region=data.region, lead_id=data.lead_id
        )
        await self.repository.add(team)
        await self.repository.replace_members(team.id, [self._member(m) for m in members])
        await audit.record(
            self.session, "team.created", "team", team.id, actor_id=actor.id, name=team.name, members=len(members)
        )
        log.info("feedback.team.created", team_id=str(team.id))
        return await self.get(team.id)

    async def update(self, actor: User, team_id: uuid.UUID, data: TeamUpdate) -> TeamView:
        team = await self._team(team_id, for_update=True)
        changes = data.model_dump(exclude_unset=True)
        if "name" in changes and await self.repository.name_taken(changes["name"], except_id=team.id):
            raise TeamNameTaken(detail={"name": changes["name"]})
        if changes.get("lead_id") is not None:
            await self._require_staff(changes["lead_id"], "lead_id")
        for field, value in changes.items():
            setattr(team, field, value)
        await self.repository.save(team)
        await audit.record(self.session, "team.updated", "team", team.id, actor_id=actor.id, fields=sorted(changes))
        return await self.get(team.id)

    async def replace_members(self, actor: User, team_id: uuid.UUID, members: list[TeamMemberWrite]) -> TeamView:
        team = await self._team(team_id, for_update=True)  # concurrent replacements of one team queue here
        checked = await self._members(members)
        await self.repository.replace_members(team.id, [self._member(m) for m in checked])
        await audit.record(
            self.session,
            "team.members_replaced",
            "team",
            team.id,
            actor_id=actor.id,
            members=[str(m.user_id) for m in checked],
        )
        return await self.get(team.id)

    async def delete(self, actor: User, team_id: uuid.UUID) -> None:
        team = await self._team(team_id, for_update=True)
        open_tasks = await self.repository.count_open_tasks(team.id)
        if open_tasks:
            raise TeamInUse(detail={"team_id": team.id, "open_tasks": open_tasks})
        detached = await self.repository.detach_finished_tasks(team.id)
        await self.repository.delete(team)
        await audit.record(
            self.session, "team.deleted", "team", team_id, actor_id=actor.id, name=team.name, finished_tasks=detached
        )
        log.info("feedback.team.deleted", team_id=str(team_id))

    async def rules(self) -> list[RoutingRule]:
        return await self.repository.rules()

    async def replace_rules(self, actor: User, rules: list[RoutingRuleWrite]) -> list[RoutingRule]:
        known = await self.repository.existing_ids(rule.team_id for rule in rules)
        for position, rule in enumerate(rules):
            if rule.team_id not in known:
                raise UnknownTeam(
                    f"Routing rule {position} names team {rule.team_id}, which does not exist",
                    detail={"position": position, "team_id": rule.team_id},
                )
        saved = await self.repository.replace_rules(
            [RoutingRule(position=position, **rule.model_dump()) for position, rule in enumerate(rules)]
        )
        await audit.record(
            self.session, "routing_rules.replaced", "routing_rules", "all", actor_id=actor.id, count=len(saved)
        )
        return saved

    async def _team(self, team_id: uuid.UUID, *, for_update: bool = False) -> Team:
        team = await self.repository.get(team_id, for_update=for_update)
        if team is None:
            raise TeamNotFound(detail={"team_id": team_id})
        return team

    async def _members(self, members: list[TeamMemberWrite]) -> list[TeamMemberWrite]:
        seen: set[uuid.UUID] = set()
        for index, member in enumerate(members):
            if member.user_id in seen:
                raise DuplicateMember(detail={"user_id": member.user_id, "field": f"members[{index}].user_id"})
            seen.add(member.user_id)
            await self._require_staff(member.user_id, f"members[{index}].user_id")
        return members

    async def _require_staff(self, user_id: uuid.UUID, field: str) -> None:
        user = None if user_id == SYSTEM_USER_ID else await self.users.get(user_id)
        if user is None:
            reason = "the system account" if user_id == SYSTEM_USER_ID else "no such user"
        elif not user.is_active:
            reason = "deactivated"
        elif not user.is_staff:
            reason = "a customer"
        else:
            return
        raise NotStaff(
            f"User {user_id} is {reason}: team members and leads must be active staff or admins",
            detail={"user_id": user_id, "field": field, "reason": reason},
        )

    @staticmethod
    def _member(data: TeamMemberWrite) -> dict[str, Any]:
        return data.model_dump()

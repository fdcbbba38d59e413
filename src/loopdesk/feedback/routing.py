"""Which team and which person a task goes to. The first routing rule (by position) whose every set condition
holds picks the team; with none, a team of the task's region, then any team. Inside the team, of the active
members with the rule's skill, the one on duty now with the lowest open load gets it; with nobody on duty, the
lowest-load one anyway, flagged off duty. The decision says who was weighed and why; writing it onto the task
and its timeline is the workflow's part. Also the escalation contacts: a team's lead, the admins."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.feedback.models import RoutingRule, Task, Team, TeamMember
from loopdesk.feedback.teams import TeamRepository

log = structlog.get_logger("loopdesk.feedback.routing")

DecidedBy = Literal["rule", "region", "any_team", "no_team"]


class Routable(Protocol):
    issue_type: str | None
    category: str | None
    region: str | None
    affected_modules: list[str]


@dataclass(frozen=True, slots=True)
class Candidate:
    user_id: uuid.UUID
    load: int  # open tasks assigned (not closed or rejected)
    assigned_total: int
    on_duty: bool
    has_skill: bool


@dataclass(frozen=True, slots=True)
class RouteDecision:
    team_id: uuid.UUID | None
    team_name: str | None
    assignee_id: uuid.UUID | None
    rule_id: int | None  # the rule that decided; None when a fallback did
    decided_by: DecidedBy
    reason: str
    skill: str | None = None
    off_duty: bool = False  # the assignee is outside their on-call windows: nobody with the skill was on duty
    candidates: tuple[Candidate, ...] = ()

    def as_data(self) -> dict[str, Any]:
        """JSON-ready, for a timeline event's `data`."""
        data = asdict(self)
        for key in ("team_id", "assignee_id"):
            data[key] = None if data[key] is None else str(data[key])
        data["candidates"] = [{**c, "user_id": str(c["user_id"])} for c in data["candidates"]]
        return data


# -- pure parts ----------------------------------------------------------------------------------------


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


def rule_matches(rule: RoutingRule, task: Routable) -> bool:
    """Every condition the rule sets holds for the task (text compared ignoring case); an unset one is any."""
    if rule.issue_type is not None and not _same(rule.issue_type, task.issue_type):
        return False
    if rule.category is not None and not _same(rule.category, task.category):
        return False
    if rule.region is not None and not _same(rule.region, task.region):
        return False
    if rule.module is not None:
        return any(_same(rule.module, module) for module in task.affected_modules or ())
    return True


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def on_duty(windows: Sequence[Mapping[str, Any]], timezone: str, at: datetime) -> bool:
    """Whether `at` falls in one of the on-call windows, read in `timezone`; no windows: always on duty.
    A window starts on each of its `days`; one whose end is not after its start runs into the next day."""
    if not windows:
        return True
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):  # the API validates zones; a row written otherwise reads as UTC
        log.warning("feedback.routing.unknown_timezone", timezone=timezone)
        zone = ZoneInfo("UTC")
    local = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(zone)
    day, minute = local.weekday(), local.hour * 60 + local.minute
    for window in windows:
        days, start, end = set(window["days"]), _minutes(window["start"]), _minutes(window["end"])
        if start < end:
            if day in days and start <= minute < end:
                return True
        elif (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end):
            return True
    return False


def pick_assignee(candidates: Sequence[Candidate]) -> tuple[Candidate | None, bool]:
    """(the chosen candidate, whether they are off duty): among those with the skill, the lowest open load on
    duty, ties to the fewest assigned in total, then the user id; with nobody on duty, the same order off duty."""
    skilled = [c for c in candidates if c.has_skill]
    ranked = sorted(skilled, key=lambda c: (c.load, c.assigned_total, c.user_id))
    on_call = [c for c in ranked if c.on_duty]
    if on_call:
        return on_call[0], False
    if ranked:
        return ranked[0], True
    return None, False


def _describe(rule: RoutingRule) -> str:
    conditions = [
        f"{label} {value}"
        for label, value in (
            ("issue type", rule.issue_type),
            ("category", rule.category),
            ("module", rule.module),
            ("region", rule.region),
        )
        if value is not None
    ]
    return f"the routing rule at position {rule.position} ({', '.join(conditions) or 'any task'})"


@dataclass(frozen=True, slots=True)
class TeamChoice:
    team: Team | None
    rule: RoutingRule | None
    decided_by: DecidedBy
    why: str


def choose_team(rules: Sequence[RoutingRule], teams: Sequence[Team], task: Routable) -> TeamChoice:
    """The first rule (by position) that matches names the team; else a team of the task's region, else a team
    serving both regions, else any (by name)."""
    by_id = {team.id: team for team in teams}
    ordered = sorted(rules, key=lambda r: (r.position, r.id or 0))
    for rule in ordered:
        if rule.team_id in by_id and rule_matches(rule, task):
            return TeamChoice(by_id[rule.team_id], rule, "rule", f"{_describe(rule)} matched")
    by_name = sorted(teams, key=lambda t: (t.name, str(t.id)))
    regional = [t for t in by_name if task.region is not None and t.region == task.region]
    if regional:
        why = f"no routing rule matched; the team serves the task's region ({task.region})"
        return TeamChoice(regional[0], None, "region", why)
    if by_name:
        team = sorted(by_name, key=lambda t: t.region is not None)[0]  # stable: by name within each group
        why = "no routing rule matched and no team serves the task's region; the first team by name was taken"
        return TeamChoice(team, None, "any_team", why)
    return TeamChoice(None, None, "no_team", "no routing rule matched and no team exists")


# -- against the database ------------------------------------------------------------------------------


async def route_task(session: AsyncSession, task: Task, *, now: datetime) -> RouteDecision:
    """Decide the task's team and assignee at `now`. Holds a lock on the chosen team's routing until the
    transaction ends, so that tasks routed at the same time and assigned in their transactions spread out."""
    repository = TeamRepository(session)
    choice = choose_team(await repository.rules(), await repository.list(), task)
    team, rule = choice.team, choice.rule
    if team is None:
        return RouteDecision(None, None, None, None, "no_team", "No routing rule matched and no team exists.")

    skill = rule.skill if rule is not None else None
    await repository.lock_for_routing(team.id)
    candidates = await _candidates(repository, await repository.routable_members(team.id), skill, now)
    chosen, off_duty = pick_assignee(candidates)
    reason = f"Team {team.name}: {choice.why}. {_assignee_sentence(chosen, off_duty, skill, candidates)}"
    decision = RouteDecision(
        team_id=team.id,
        team_name=team.name,
        assignee_id=chosen.user_id if chosen else None,
        rule_id=rule.id if rule is not None else None,
        decided_by=choice.decided_by,
        reason=reason,
        skill=skill,
        off_duty=off_duty,
        candidates=tuple(candidates),
    )
    log.info(
        "feedback.task.routed",
        task_id=str(task.id),
        team_id=str(team.id),
        assignee_id=str(decision.assignee_id) if decision.assignee_id else None,
        decided_by=choice.decided_by,
        off_duty=off_duty,
    )
    return decision


async def _candidates(
    repository: TeamRepository, members: Sequence[TeamMember], skill: str | None, now: datetime
) -> list[Candidate]:
    workload = await repository.workload([member.user_id for member in members])
    wanted = skill.casefold() if skill else None
    return [
        Candidate(
            user_id=member.user_id,
            load=workload.get(member.user_id, (0, 0))[0],
            assigned_total=workload.get(member.user_id, (0, 0))[1],
            on_duty=on_duty(member.on_call, member.timezone, now),
            has_skill=wanted is None or wanted in {s.casefold() for s in member.skills},
        )
        for member in members
    ]


def _assignee_sentence(
    chosen: Candidate | None, off_duty: bool, skill: str | None, candidates: Sequence[Candidate]
) -> str:
    with_skill = f" with the skill '{skill}'" if skill else ""
    if not candidates:
        return "It has no active members: no assignee."
    if chosen is None:
        return f"No active member has the skill '{skill}': no assignee."
    load = f"{chosen.load} open task{'' if chosen.load == 1 else 's'}"
    if off_duty:
        return f"Nobody{with_skill} is on duty: the member with the lowest load ({load}) was chosen, off duty."
    return f"The on-duty member{with_skill} with the lowest open load ({load}) was chosen."


async def team_lead(session: AsyncSession, team_id: uuid.UUID) -> uuid.UUID | None:
    """The id of the team's lead while the account is active staff or an admin; None without one (escalate to
    the admins)."""
    repository = TeamRepository(session)
    team = await repository.get(team_id)
    if team is None or team.lead_id is None:
        return None
    lead = await repository.active_staff(team.lead_id)
    return lead.id if lead is not None else None


async def admins(session: AsyncSession) -> list[uuid.UUID]:
    """Ids of the active admins, oldest account first, never the system account."""
    return [admin.id for admin in await TeamRepository(session).active_admins()]

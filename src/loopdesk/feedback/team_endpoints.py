"""`/api/v1/teams` (members with skills, time zones and on-call windows) and `/api/v1/routing-rules`: staff read,
admins write."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response, status

from loopdesk.auth.deps import AdminUser, StaffUser
from loopdesk.core.db import SessionDep
from loopdesk.core.errors import error_body
from loopdesk.feedback.routing import on_duty
from loopdesk.feedback.team_schemas import (
    MAX_MEMBERS,
    MAX_RULES,
    RoutingRuleRead,
    RoutingRuleWrite,
    TeamCreate,
    TeamMemberRead,
    TeamMemberWrite,
    TeamRead,
    TeamUpdate,
)
from loopdesk.feedback.teams import TeamService, TeamView

router = APIRouter(tags=["teams"])


async def _service(session: SessionDep) -> TeamService:
    return TeamService(session)


ServiceDep = Annotated[TeamService, Depends(_service)]
MembersBody = Annotated[list[TeamMemberWrite], Body(max_length=MAX_MEMBERS)]
RulesBody = Annotated[list[RoutingRuleWrite], Body(max_length=MAX_RULES)]


def _example(status_code: int, code: str, message: str, description: str) -> dict[int, dict[str, Any]]:
    return {
        status_code: {
            "description": description,
            "content": {"application/json": {"example": error_body(code, message)}},
        }
    }


NOT_FOUND = _example(404, "team_not_found", "Team not found", "No such team")
NOT_STAFF = _example(
    422,
    "not_staff",
    "User … is a customer: team members and leads must be active staff or admins",
    "A member or the lead is not active staff or an admin (also `duplicate_member`, `validation_error`)",
)
NAME_TAKEN = _example(409, "team_name_taken", "A team with this name already exists", "The name is taken")


def _read(view: TeamView, now: datetime) -> TeamRead:
    members = [
        TeamMemberRead(
            user_id=member.user_id,
            skills=member.skills,
            timezone=member.timezone,
            on_call=member.on_call,  # type: ignore[arg-type]
            active=member.active,
            on_duty=on_duty(member.on_call, member.timezone, now),
        )
        for member in view.members
    ]
    team = view.team
    return TeamRead(
        id=team.id,
        name=team.name,
        description=team.description,
        region=team.region,  # type: ignore[arg-type]
        lead_id=team.lead_id,
        members=members,
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


@router.get("/api/v1/teams", response_model=list[TeamRead])
async def list_teams(user: StaffUser, service: ServiceDep) -> list[TeamRead]:
    """Every team by name, with its members (and whether each is on duty now)."""
    now = datetime.now(UTC)
    return [_read(view, now) for view in await service.list()]


@router.post(
    "/api/v1/teams",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    responses={**NAME_TAKEN, **NOT_STAFF},
)
async def create_team(data: TeamCreate, user: AdminUser, service: ServiceDep) -> TeamRead:
    """A team with its lead and members (skills, IANA time zone, on-call windows)."""
    return _read(await service.create(user, data), datetime.now(UTC))


@router.get("/api/v1/teams/{team_id}", response_model=TeamRead, responses=NOT_FOUND)
async def get_team(team_id: uuid.UUID, user: StaffUser, service: ServiceDep) -> TeamRead:
    return _read(await service.get(team_id), datetime.now(UTC))


@router.patch("/api/v1/teams/{team_id}", response_model=TeamRead, responses={**NOT_FOUND, **NAME_TAKEN, **NOT_STAFF})
async def update_team(team_id: uuid.UUID, data: TeamUpdate, user: AdminUser, service: ServiceDep) -> TeamRead:
    """Change the name, description, region or lead; fields left out stay. Members: `PUT .../members`."""
    return _read(await service.update(user, team_id, data), datetime.now(UTC))


@router.put("/api/v1/teams/{team_id}/members", response_model=TeamRead, responses={**NOT_FOUND, **NOT_STAFF})
async def replace_team_members(
    team_id: uuid.UUID, members: MembersBody, user: AdminUser, service: ServiceDep
) -> TeamRead:
    """Replace the team's member list with this one (a JSON array; empty: no members)."""
    return _read(await service.replace_members(user, team_id, members), datetime.now(UTC))


@router.delete(
    "/api/v1/teams/{team_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        **NOT_FOUND,
        **_example(409, "team_in_use", "The team has open tasks", "Open tasks are routed to the team"),
    },
)
async def delete_team(team_id: uuid.UUID, user: AdminUser, service: ServiceDep) -> Response:
    """Delete a team with no open tasks; its members and the routing rules naming it go too, and its closed
    tasks keep their timeline but no longer name a team."""
    await service.delete(user, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/routing-rules", response_model=list[RoutingRuleRead])
async def list_routing_rules(user: StaffUser, service: ServiceDep) -> list[RoutingRuleRead]:
    """The rules in the order they are tried; the first whose every set condition matches picks the team."""
    return [RoutingRuleRead.model_validate(rule) for rule in await service.rules()]


@router.put(
    "/api/v1/routing-rules",
    response_model=list[RoutingRuleRead],
    responses=_example(422, "unknown_team", "A routing rule names a team that does not exist", "No such team"),
)
async def replace_routing_rules(rules: RulesBody, user: AdminUser, service: ServiceDep) -> list[RoutingRuleRead]:
    """Replace every rule at once with this ordered JSON array (positions follow it; ids are new)."""
    return [RoutingRuleRead.model_validate(rule) for rule in await service.replace_rules(user, rules)]

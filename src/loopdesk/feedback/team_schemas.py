"""Request and response shapes of teams (members with skills, time zones and on-call windows) and routing rules."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from loopdesk.core.schemas import Schema
from loopdesk.feedback.schemas import IssueType, RegionName

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=64)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Module = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Weekday = Annotated[int, Field(ge=0, le=6)]


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _iana_timezone(name: str) -> str:
    if name not in _known_timezones():
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)")
    return name


def _distinct_sorted(days: list[int]) -> list[int]:
    return sorted(set(days))


TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_iana_timezone)]


class OnCallWindow(Schema):
    """On duty on each of `days`, from `start` to `end` in the member's time zone. An `end` before `start`
    runs overnight into the next day; `end` equal to `start` is a whole 24 hours."""

    days: Annotated[list[Weekday], AfterValidator(_distinct_sorted)] = Field(
        ..., min_length=1, max_length=7, description="weekdays the window starts on, Monday = 0 … Sunday = 6"
    )
    start: ClockTime = Field(..., description="HH:MM")
    end: ClockTime = Field(..., description="HH:MM; before `start`: the window ends the next day")


def _distinct_skills(skills: list[str]) -> list[str]:
    return list(dict.fromkeys(skills))


class TeamMemberWrite(Schema):
    user_id: uuid.UUID = Field(..., description="an active staff or admin account")
    skills: Annotated[list[Skill], AfterValidator(_distinct_skills)] = Field(
        default_factory=list, max_length=50, description="lower-cased; a routing rule may require one"
    )
    timezone: TimeZone = Field("UTC", description="IANA name; the on-call windows are in this zone")
    on_call: list[OnCallWindow] = Field(default_factory=list, max_length=50, description="empty: always on duty")
    active: bool = Field(True, description="inactive members are never routed to")


MAX_MEMBERS, MAX_RULES = 200, 500


class TeamCreate(Schema):
    name: TeamName
    description: Description = ""
    region: RegionName | None = Field(None, description="null: serves both regions")
    lead_id: uuid.UUID | None = Field(None, description="an active staff or admin account; escalations reach them")
    members: list[TeamMemberWrite] = Field(default_factory=list, max_length=MAX_MEMBERS)


class TeamUpdate(Schema):
    """Fields left out stay as they are; `region` and `lead_id` may be set to null. Members: `PUT .../members`."""

    name: TeamName | None = None
    description: Description | None = None
    region: RegionName | None = None
    lead_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _name_and_description_not_null(self) -> TeamUpdate:
        nulled = [
            field
            for field in ("name", "description")
            if field in self.model_fields_set and getattr(self, field) is None
        ]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} may be changed but not set to null")
        return self


class TeamMemberRead(Schema):
    user_id: uuid.UUID
    skills: list[str]
    timezone: str
    on_call: list[OnCallWindow]
    active: bool
    on_duty: bool = Field(..., description="on duty now, by the windows in the member's time zone")


class TeamRead(Schema):
    id: uuid.UUID
    name: str
    description: str
    region: RegionName | None
    lead_id: uuid.UUID | None
    members: list[TeamMemberRead] = Field(..., description="longest-standing members first")
    created_at: datetime
    updated_at: datetime


class RoutingRuleWrite(Schema):
    """Matches a task when every set condition holds (null: any); `module` matches any of the task's affected
    modules, ignoring case. The first matching rule in list order decides the team."""

    issue_type: IssueType | None = None
    category: Category | None = None
    module: Module | None = None
    region: RegionName | None = None
    team_id: uuid.UUID
    skill: Skill | None = Field(None, description="the assignee must have this skill")


class RoutingRuleRead(Schema):
    id: int
    position: int = Field(..., description="0-based; rules are tried in this order")
    issue_type: IssueType | None
    category: str | None
    module: str | None
    region: RegionName | None
    team_id: uuid.UUID
    skill: str | None
    created_at: datetime

"""Routing: the pure parts (rule match, team choice, on-duty check, the pick) directly, then `route_task`,
`team_lead` and `admins` against a real migrated database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.core.db import Database
from loopdesk.feedback.models import RoutingRule, Task, Team, TeamMember
from loopdesk.feedback.routing import (
    Candidate,
    admins,
    choose_team,
    on_duty,
    pick_assignee,
    route_task,
    rule_matches,
    team_lead,
)
from loopdesk.users.models import SYSTEM_USER_ID, User

MONDAY_10_UTC = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
WEEKDAYS_9_TO_17 = [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]


def task(**fields) -> Task:
    values = {"issue_type": "bug", "category": "crash", "region": "domestic", "affected_modules": ["Payments"]}
    return Task(**{**values, **fields})


def rule(position: int = 0, team_id: uuid.UUID | None = None, **conditions) -> RoutingRule:
    return RoutingRule(id=position + 1, position=position, team_id=team_id or uuid.uuid4(), **conditions)


def candidate(name: str, load: int = 0, total: int = 0, *, on_duty: bool = True, skill: bool = True) -> Candidate:
    return Candidate(uuid.uuid5(uuid.NAMESPACE_DNS, name), load, total, on_duty, skill)


class TestRuleMatches:
    def test_a_rule_without_conditions_matches_every_task(self) -> None:
        assert rule_matches(rule(), task())
        assert rule_matches(rule(), task(issue_type=None, category=None, region=None, affected_modules=[]))

    def test_every_set_condition_must_hold(self) -> None:
        assert rule_matches(rule(issue_type="bug", region="domestic"), task())
        assert not rule_matches(rule(issue_type="bug", region="international"), task())
        assert not rule_matches(rule(issue_type="suggestion"), task())
        assert not rule_matches(rule(category="billing"), task())

    def test_text_conditions_ignore_case(self) -> None:
        assert rule_matches(rule(category="CRASH"), task())
        assert rule_matches(rule(module="payments"), task())

    def test_the_module_matches_any_of_the_tasks_modules(self) -> None:
        assert rule_matches(rule(module="auth"), task(affected_modules=["mobile", "Auth"]))
        assert not rule_matches(rule(module="auth"), task(affected_modules=["authentication"]))
        assert not rule_matches(rule(module="auth"), task(affected_modules=[]))

    def test_an_unknown_value_on_the_task_never_meets_a_set_condition(self) -> None:
        assert not rule_matches(rule(region="domestic"), task(region=None))
        assert not rule_matches(rule(category="crash"), task(category=None))


def team(name: str, region: str | None = None) -> Team:
    return Team(id=uuid.uuid5(uuid.NAMESPACE_DNS, name), name=name, region=region)


class TestChooseTeam:
    def test_the_first_matching_rule_by_position_decides(self) -> None:
        mobile, payments = team("mobile"), team("payments")
        rules = [
            rule(2, mobile.id),
            rule(1, payments.id, module="payments"),
            rule(0, mobile.id, issue_type="suggestion"),
        ]
        choice = choose_team(rules, [mobile, payments], task())
        assert (choice.team, choice.rule, choice.decided_by) == (payments, rules[1], "rule")
        assert "position 1" in choice.why and "module payments" in choice.why

    def test_without_a_matching_rule_a_team_of_the_tasks_region_is_taken(self) -> None:
        abroad, home = team("abroad", "international"), team("home", "domestic")
        choice = choose_team([rule(0, abroad.id, module="billing")], [abroad, home], task(region="domestic"))
        assert (choice.team, choice.rule, choice.decided_by) == (home, None, "region")

    def test_then_a_team_serving_both_regions_then_any_by_name(self) -> None:
        abroad, both = team("a-abroad", "international"), team("z-both", None)
        assert choose_team([], [abroad, both], task(region="domestic")).team == both
        choice = choose_team([], [abroad], task(region="domestic"))
        assert (choice.team, choice.decided_by) == (abroad, "any_team")
        assert choose_team([], [abroad, both], task(region=None)).team == both

    def test_with_no_team_nothing_is_chosen(self) -> None:
        choice = choose_team([], [], task())
        assert (choice.team, choice.decided_by) == (None, "no_team")


class TestOnDuty:
    def test_no_windows_means_always_on_duty(self) -> None:
        assert on_duty([], "Asia/Shanghai", MONDAY_10_UTC)

    def test_a_window_includes_its_start_and_excludes_its_end(self) -> None:
        monday = datetime(2026, 12, 7, tzinfo=UTC)
        assert on_duty(WEEKDAYS_9_TO_17, "UTC", monday.replace(hour=9))
        assert on_duty(WEEKDAYS_9_TO_17, "UTC", monday.replace(hour=16, minute=59, second=59))
        assert not on_duty(WEEKDAYS_9_TO_17, "UTC", monday.replace(hour=17))
        assert not on_duty(WEEKDAYS_9_TO_17, "UTC", monday.replace(hour=8, minute=59))
        assert not on_duty(WEEKDAYS_9_TO_17, "UTC", monday + timedelta(days=5, hours=10))  # Saturday

    def test_the_window_is_read_in_the_members_time_zone(self) -> None:
        # 10:00 UTC on Monday is 18:00 in Shanghai (off) and 05:00 in New York (off); 02:00 UTC is 10:00 Shanghai.
        assert not on_duty(WEEKDAYS_9_TO_17, "Asia/Shanghai", MONDAY_10_UTC)
        assert on_duty(WEEKDAYS_9_TO_17, "Asia/Shanghai", MONDAY_10_UTC.replace(hour=2))
        assert not on_duty(WEEKDAYS_9_TO_17, "America/New_York", MONDAY_10_UTC)

    def test_the_weekday_is_the_local_one(self) -> None:
        # Sunday 20:00 UTC is already Monday 04:00 in Shanghai.
        sunday_evening = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
        mondays = [{"days": [0], "start": "00:00", "end": "08:00"}]
        assert on_duty(mondays, "Asia/Shanghai", sunday_evening)
        assert not on_duty(mondays, "UTC", sunday_evening)

    def test_daylight_saving_time_moves_the_window_in_utc(self) -> None:
        # 13:30 UTC is 09:30 in New York in July (EDT) and 08:30 in December (EST).
        assert on_duty(WEEKDAYS_9_TO_17, "America/New_York", datetime(2026, 7, 6, 13, 30, tzinfo=UTC))
        assert not on_duty(WEEKDAYS_9_TO_17, "America/New_York", datetime(2026, 12, 7, 13, 30, tzinfo=UTC))

    def test_an_overnight_window_runs_into_the_next_day(self) -> None:
        monday_nights = [{"days": [0], "start": "22:00", "end": "06:00"}]
        monday = datetime(2026, 12, 7, tzinfo=UTC)
        assert on_duty(monday_nights, "UTC", monday.replace(hour=23))
        assert on_duty(monday_nights, "UTC", monday + timedelta(days=1, hours=5, minutes=59))  # Tuesday 05:59
        assert not on_duty(monday_nights, "UTC", monday + timedelta(days=1, hours=6))
        assert not on_duty(monday_nights, "UTC", monday.replace(hour=3))  # Monday morning: Sunday's night, not set
        assert not on_duty(monday_nights, "UTC", monday + timedelta(days=1, hours=23))  # Tuesday night

    def test_sunday_night_runs_into_monday(self) -> None:
        sunday_nights = [{"days": [6], "start": "20:00", "end": "04:00"}]
        assert on_duty(sunday_nights, "UTC", datetime(2026, 12, 7, 3, 0, tzinfo=UTC))

    def test_equal_start_and_end_is_a_whole_day(self) -> None:
        mondays = [{"days": [0], "start": "00:00", "end": "00:00"}]
        monday = datetime(2026, 12, 7, tzinfo=UTC)
        assert on_duty(mondays, "UTC", monday) and on_duty(mondays, "UTC", monday.replace(hour=23, minute=59))
        assert not on_duty(mondays, "UTC", monday + timedelta(days=1))

    def test_a_stored_zone_that_does_not_exist_reads_as_utc(self) -> None:
        assert on_duty(WEEKDAYS_9_TO_17, "Nowhere/Atlantis", MONDAY_10_UTC)
        assert not on_duty(WEEKDAYS_9_TO_17, "Nowhere/Atlantis", MONDAY_10_UTC.replace(hour=18))

    def test_a_naive_instant_is_read_as_utc(self) -> None:
        assert on_duty(WEEKDAYS_9_TO_17, "UTC", datetime(2026, 12, 7, 10, 0))


class TestPickAssignee:
    def test_the_on_duty_member_with_the_lowest_open_load_wins(self) -> None:
        busy, idle_away, light = candidate("busy", 5), candidate("away", 0, on_duty=False), candidate("light", 1)
        assert pick_assignee([busy, idle_away, light]) == (light, False)

    def test_ties_go_to_fewest_assigned_in_total_then_the_user_id(self) -> None:
        veteran, newcomer = candidate("veteran", 1, 40), candidate("newcomer", 1, 3)
        assert pick_assignee([veteran, newcomer]) == (newcomer, False)
        first, second = sorted([candidate("a", 1, 3), candidate("b", 1, 3)], key=lambda c: c.user_id)
        assert pick_assignee([second, first]) == (first, False)

    def test_members_without_the_skill_are_passed_over(self) -> None:
        unskilled, skilled = candidate("unskilled", 0, skill=False), candidate("skilled", 4)
        assert pick_assignee([unskilled, skilled]) == (skilled, False)

    def test_with_nobody_on_duty_the_lowest_load_is_chosen_off_duty(self) -> None:
        heavy, light = candidate("heavy", 3, on_duty=False), candidate("light", 1, on_duty=False)
        on_duty_without_skill = candidate("other", 0, skill=False)
        assert pick_assignee([heavy, light, on_duty_without_skill]) == (light, True)

    def test_nobody_with_the_skill_means_no_assignee(self) -> None:
        assert pick_assignee([candidate("a", skill=False)]) == (None, False)
        assert pick_assignee([]) == (None, False)


# -- against the database ------------------------------------------------------------------------------


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    database = Database.connect(database_url, pool_size=2, max_overflow=0)
    async with database.sessionmaker() as db_session:
        yield db_session
    await database.dispose()


async def user(session: AsyncSession, name: str, role: str = "staff", *, active: bool = True) -> User:
    account = User(
        id=uuid.uuid4(),
        email=f"{name}-{uuid.uuid4().hex[:6]}@example.com",
        display_name=name,
        password_hash="!",
        role=role,
        is_active=active,
    )
    session.add(account)
    await session.flush()
    return account


async def add_team(session: AsyncSession, name: str, region: str | None = None, lead: User | None = None) -> Team:
    created = Team(id=uuid.uuid4(), name=name, region=region, lead_id=lead.id if lead else None)
    session.add(created)
    await session.flush()
    return created


async def member(session: AsyncSession, of: Team, who: User, skills=(), on_call=(), tz="UTC", active=True) -> None:
    session.add(
        TeamMember(
            team_id=of.id, user_id=who.id, skills=list(skills), timezone=tz, on_call=list(on_call), active=active
        )
    )
    await session.flush()


async def stored_task(
    session: AsyncSession, reporter: User, *, assignee: User | None = None, stage: str = "classified", **fields
) -> Task:
    created = task(
        id=uuid.uuid4(),
        task_number=f"FB-2026-{uuid.uuid4().int % 10**9:09d}",
        title="Checkout fails",
        description="Paying by card fails with an error.",
        source_channel="web",
        reporter_id=reporter.id,
        assignee_id=assignee.id if assignee else None,
        workflow_stage=stage,
        **fields,
    )
    session.add(created)
    await session.flush()
    return created


async def assign(session: AsyncSession, reporter: User, who: User, *, open_tasks: int, closed: int = 0) -> None:
    for _ in range(open_tasks):
        await stored_task(session, reporter, assignee=who, stage="in_progress")
    for index in range(closed):
        await stored_task(session, reporter, assignee=who, stage="closed" if index % 2 else "rejected")


class TestRouteTask:
    async def test_the_rules_team_and_its_on_duty_member_with_the_skill_and_lowest_load(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        busy, light, unskilled, away = [await user(session, n) for n in ("busy", "light", "unskilled", "away")]
        payments = await add_team(session, "payments", "domestic")
        for who in (busy, light):
            await member(session, payments, who, skills=["billing"])
        await member(session, payments, unskilled, skills=["ios"])
        await member(session, payments, away, skills=["Billing"], on_call=WEEKDAYS_9_TO_17, tz="Asia/Shanghai")
        await assign(session, reporter, busy, open_tasks=2)
        await assign(session, reporter, light, open_tasks=1, closed=6)  # finished work is no load
        session.add(RoutingRule(position=0, module="PAYMENTS", team_id=payments.id, skill="billing"))
        report = await stored_task(session, reporter)

        decision = await route_task(session, report, now=MONDAY_10_UTC)

        assert (decision.team_id, decision.team_name, decision.assignee_id) == (payments.id, "payments", light.id)
        assert (decision.decided_by, decision.skill, decision.off_duty) == ("rule", "billing", False)
        assert decision.rule_id is not None
        seen = {c.user_id: (c.load, c.assigned_total, c.on_duty, c.has_skill) for c in decision.candidates}
        assert seen == {
            busy.id: (2, 2, True, True),
            light.id: (1, 7, True, True),
            unskilled.id: (0, 0, True, False),
            away.id: (0, 0, False, True),
        }
        assert "payments" in decision.reason and "lowest open load (1 open task)" in decision.reason
        data = decision.as_data()
        assert data["assignee_id"] == str(light.id) and len(data["candidates"]) == 4

    async def test_with_nobody_on_duty_the_lowest_load_is_assigned_off_duty(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        day, night = await user(session, "day"), await user(session, "night")
        ops = await add_team(session, "ops")
        await member(session, ops, day, on_call=WEEKDAYS_9_TO_17, tz="America/New_York")
        await member(session, ops, night, on_call=[{"days": [6], "start": "22:00", "end": "02:00"}])
        await assign(session, reporter, day, open_tasks=1)

        decision = await route_task(session, await stored_task(session, reporter), now=MONDAY_10_UTC)

        assert (decision.team_id, decision.assignee_id, decision.off_duty) == (ops.id, night.id, True)
        assert decision.decided_by == "any_team" and "off duty" in decision.reason

    async def test_inactive_members_and_accounts_no_longer_staff_are_never_chosen(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        paused, gone, demoted, worker = (
            await user(session, "paused"),
            await user(session, "gone", active=False),
            await user(session, "demoted", "customer"),
            await user(session, "worker"),
        )
        ops = await add_team(session, "ops", "domestic")
        await member(session, ops, paused, active=False)
        await member(session, ops, gone)
        await member(session, ops, demoted)
        await member(session, ops, worker)
        await assign(session, reporter, worker, open_tasks=3)

        decision = await route_task(session, await stored_task(session, reporter), now=MONDAY_10_UTC)

        assert decision.assignee_id == worker.id
        assert [c.user_id for c in decision.candidates] == [worker.id]
        assert decision.decided_by == "region"

    async def test_a_team_without_members_gets_the_task_without_an_assignee(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        empty = await add_team(session, "empty")
        decision = await route_task(session, await stored_task(session, reporter), now=MONDAY_10_UTC)
        assert (decision.team_id, decision.assignee_id, decision.candidates) == (empty.id, None, ())
        assert "no active members" in decision.reason

    async def test_a_skill_nobody_has_leaves_the_task_unassigned(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        ops = await add_team(session, "ops")
        await member(session, ops, await user(session, "generalist"), skills=["ios"])
        session.add(RoutingRule(position=0, team_id=ops.id, skill="db"))
        decision = await route_task(session, await stored_task(session, reporter), now=MONDAY_10_UTC)
        assert (decision.team_id, decision.assignee_id, decision.skill) == (ops.id, None, "db")
        assert "skill 'db'" in decision.reason

    async def test_without_teams_nothing_is_routed(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        decision = await route_task(session, await stored_task(session, reporter), now=MONDAY_10_UTC)
        assert (decision.team_id, decision.assignee_id, decision.decided_by) == (None, None, "no_team")

    async def test_an_assignment_made_in_the_routing_transaction_counts_for_the_next_task(self, session) -> None:
        reporter = await user(session, "reporter", "customer")
        first, second = sorted([await user(session, "first"), await user(session, "second")], key=lambda u: u.id)
        ops = await add_team(session, "ops")
        for who in (first, second):
            await member(session, ops, who)
        chosen = []
        for _ in range(4):
            report = await stored_task(session, reporter)
            report.assignee_id = (await route_task(session, report, now=MONDAY_10_UTC)).assignee_id
            await session.flush()
            chosen.append(report.assignee_id)
        assert chosen == [first.id, second.id, first.id, second.id]


class TestEscalationContacts:
    async def test_the_team_lead_while_active_staff(self, session) -> None:
        lead = await user(session, "lead")
        ops = await add_team(session, "ops", lead=lead)
        assert await team_lead(session, ops.id) == lead.id
        lead.is_active = False
        await session.flush()
        assert await team_lead(session, ops.id) is None
        assert await team_lead(session, (await add_team(session, "leaderless")).id) is None
        assert await team_lead(session, uuid.uuid4()) is None

    async def test_admins_are_the_active_ones_never_the_system_account(self, session) -> None:
        boss, retired = await user(session, "boss", "admin"), await user(session, "retired", "admin", active=False)
        await user(session, "staffer")
        found = await admins(session)
        assert found == [boss.id]
        assert SYSTEM_USER_ID not in found and retired.id not in found

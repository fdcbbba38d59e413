"""The demo seed: what a newcomer sees on a fresh `make run`. Three teams with staff (skills, time zones, on-call
windows), routing rules, a week of logs with a planted incident (payment-gateway timeouts in `payments`,
yesterday), and reports from demo customers in Chinese and English, walked through the workflow by the real
services: intake, then the workflow graph (analysis, routing) on the runtime's workers, then the human gates
(review, progress, verification, CSAT) as the admin, the assignee and the reporter would take them.

Seeded once: the teams, staff, rules and logs commit together, under a lock, only while no team exists; a
database that has any team (seeded or the operator's own) is left alone. The demo staff's passwords are random
and never shown (the admin assigns the work); the customers' too. Runs from the app's start-up in the
background (`start_demo_seed`) and by hand (`loopdesk demo-seed`); both need a queue worker to run the
workflow graph, and without one the reports stay where intake leaves them."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import text

from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.feedback._demo_data import (
    CUSTOMERS,
    REPORTS,
    RULES,
    TEAMS,
    DemoPerson,
    DemoReport,
    demo_logs,
    incident_window,
)
from loopdesk.feedback.actions import WorkflowService
from loopdesk.feedback.models import Task
from loopdesk.feedback.repository import TaskRepository
from loopdesk.feedback.schemas import CsatIn, FeedbackCreate, ProgressIn, ReviewIn, VerifyIn
from loopdesk.feedback.service import FeedbackService, Intake
from loopdesk.feedback.team_schemas import OnCallWindow, RoutingRuleWrite, TeamCreate, TeamMemberWrite
from loopdesk.feedback.teams import TeamRepository, TeamService
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.triage.dedup import service as dedup
from loopdesk.triage.dedup.embeddings import Embedder, EmbedderUnavailable
from loopdesk.triage.store.service import LogService
from loopdesk.triage.store.writer import miner_templater
from loopdesk.users.models import Role, User
from loopdesk.users.repository import UserRepository
from loopdesk.users.schemas import UserCreate
from loopdesk.users.service import UserService

log = structlog.get_logger("loopdesk.feedback.demo")

_LOCK_KEY = int.from_bytes(b"lddemo18", "big", signed=True)
WAIT_SECONDS = 120.0  # for the workflow graph to take a report to plan_review
_POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class DemoSeeded:
    teams: int
    staff: int
    customers: int
    log_records: int
    incident: tuple[datetime, datetime]
    tasks: dict[str, str]  # task number → stage reached

    def banner(self) -> str:
        stages = ", ".join(f"{n} at {s}" for s, n in sorted(Counter(self.tasks.values()).items()))
        return (
            f"demo seeded: {self.teams} teams, {self.staff} staff, {self.customers} customers, "
            f"{self.log_records:,} log records (payment-gateway incident {self.incident[0]:%Y-%m-%d %H:%M} UTC), "
            f"{len(self.tasks)} reports ({stages}); see GET /api/v1/tasks as the admin"
        )


def demo_seed_enabled(settings: Settings) -> bool:
    """LOOPDESK_DEMO_SEED, else on for the embedded default database and off with LOOPDESK_DATABASE_URL."""
    configured = settings.feedback.demo_seed
    return settings.database.database_url is None if configured is None else configured


async def seed_demo(
    database: Database, settings: Settings, graphs: GraphRegistry, *, wait_seconds: float = WAIT_SECONDS
) -> DemoSeeded | None:
    """Seed the demo; None when a team exists (already seeded, or the operator's own set-up) or no admin does."""
    now = datetime.now(UTC)
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        teams = TeamRepository(session)
        admins = await teams.active_admins()
        if await teams.list() or not admins:
            log.info("feedback.demo.skipped", reason="a team exists" if admins else "no admin")
            return None
        admin = admins[0]
        staff = {p.key: await _account(session, p, Role.staff) for t in TEAMS for p in t.members}
        customers = {p.key: await _account(session, p, Role.customer) for p in CUSTOMERS}
        team_ids = await _teams(session, admin, staff)
        await TeamService(session).replace_rules(
            admin,
            [
                RoutingRuleWrite(module=module, region=region, team_id=team_ids[team], skill=skill)  # type: ignore[arg-type]
                for module, region, team, skill in RULES
            ],
        )
        written = await LogService(session).ingest_records(demo_logs(now), templater=miner_templater())
    log.info("feedback.demo.foundation", teams=len(team_ids), staff=len(staff), logs=written.accepted)
    walker = _Walker(database, settings, graphs, admin.id, wait_seconds)
    tasks = {}
    for report in REPORTS:
        number, stage = await walker.walk(customers[report.reporter], report)
        tasks[number] = stage
    seeded = DemoSeeded(
        teams=len(team_ids),
        staff=len(staff),
        customers=len(customers),
        log_records=written.accepted,
        incident=incident_window(now),
        tasks=tasks,
    )
    log.info("feedback.demo.seeded", tasks=tasks)
    return seeded


async def _account(session, person: DemoPerson, role: Role) -> uuid.UUID:  # type: ignore[no-untyped-def]
    existing = await UserRepository(session).get_by_email(person.email)
    if existing is not None:  # a seed whose teams were deleted since: keep the accounts
        return existing.id
    data = UserCreate(email=person.email, password=secrets.token_urlsafe(18), display_name=person.name)
    return (await UserService(session).register(data, role=role)).id


async def _teams(session, admin: User, staff: dict[str, uuid.UUID]) -> dict[str, uuid.UUID]:  # type: ignore[no-untyped-def]
    service, ids = TeamService(session), {}
    for team in TEAMS:
        members = [
            TeamMemberWrite(
                user_id=staff[p.key],
                skills=list(p.skills),
                timezone=p.timezone,
                on_call=[OnCallWindow.model_validate(w) for w in p.on_call],
            )
            for p in team.members
        ]
        created = await service.create(
            admin,
            TeamCreate(
                name=team.name,
                description=team.description,
                region=team.region,  # type: ignore[arg-type]
                lead_id=staff[team.lead],
                members=members,
            ),
        )
        ids[team.name] = created.team.id
    return ids


class _Walker:
    """Takes one report from intake as far as its `walk` says, each step in its own transaction."""

    def __init__(self, database: Database, settings: Settings, graphs: GraphRegistry, admin_id: uuid.UUID, wait: float):
        self.database = database
        self.settings = settings
        self.graphs = graphs
        self.admin_id = admin_id
        self.wait = wait
        self._embedder: Embedder | None | bool = False  # False: not loaded yet

    async def walk(self, reporter_id: uuid.UUID, report: DemoReport) -> tuple[str, str]:
        intake = await self._intake(reporter_id, report)
        if intake.linked:  # joined an open task as a near-duplicate: that task walks on its own
            return intake.task.task_number, intake.task.workflow_stage
        key = str(intake.task.id)
        task = await self._reached(key, "plan_review")
        if task.workflow_stage != "plan_review" or report.walk == "plan_review":
            return task.task_number, task.workflow_stage
        task = await self._act(self.admin_id, lambda s, u: s.review(u, key, ReviewIn(action="approve")))
        assignee = task.assignee_id
        notes = report.notes
        if report.walk == "in_progress":
            progress = ProgressIn(done=False, notes=notes.get("progress"), percent=40)
            task = await self._act(assignee, lambda s, u: s.progress(u, key, progress))
            return task.task_number, task.workflow_stage
        progress = ProgressIn(done=True, notes=notes.get("progress"), percent=100)
        await self._act(assignee, lambda s, u: s.progress(u, key, progress))
        await self._reached(key, "verification")  # the graph hands a resolved task over; verify after it
        await self._act(reporter_id, lambda s, u: s.verify(u, key, VerifyIn(result="pass", notes=notes.get("verify"))))
        if report.csat is not None:
            csat = CsatIn(score=report.csat, comment=notes.get("csat"))
            await self._act(reporter_id, lambda s, u: s.rate(u, key, csat))
        task = await self._reached(key, "closed")
        return task.task_number, task.workflow_stage

    async def _intake(self, reporter_id: uuid.UUID, report: DemoReport) -> Intake:
        data = FeedbackCreate(
            title=report.title,
            description=report.description,
            source_channel=report.source_channel,  # type: ignore[arg-type]
            affected_modules=list(report.affected_modules),
            registered_region=report.registered_region,
        )
        embedder = await self._load_embedder()
        async with self.database.sessionmaker() as session, session.begin():
            reporter = await session.get(User, reporter_id)
            service = FeedbackService(
                session, embedder=embedder, dedup_settings=self.settings.dedup, graphs=self.graphs
            )
            return await service.intake(reporter, data, client_ip=None)  # type: ignore[arg-type]

    async def _load_embedder(self) -> Embedder | None:
        if self._embedder is False:
            try:
                self._embedder = await dedup.load_embedder(
                    self.settings.dedup, allow_fallback=not self.settings.is_production
                )
            except EmbedderUnavailable:
                self._embedder = None
        return self._embedder  # type: ignore[return-value]

    async def _act(self, actor_id: uuid.UUID | None, action) -> Task:  # type: ignore[no-untyped-def]
        async with self.database.sessionmaker() as session, session.begin():
            actor = await session.get(User, actor_id or self.admin_id)
            return await action(WorkflowService(session, self.graphs), actor)

    async def _reached(self, key: str, stage: str) -> Task:
        """The task once the workflow graph has moved it to `stage`, or as it is when the wait runs out."""
        deadline = asyncio.get_running_loop().time() + self.wait
        while True:
            async with self.database.sessionmaker() as session:
                admin = await session.get(User, self.admin_id)
                task = await TaskRepository(session).get_readable(admin, key)  # type: ignore[arg-type]
            assert task is not None
            if task.workflow_stage == stage or asyncio.get_running_loop().time() > deadline:
                if task.workflow_stage != stage:
                    log.warning("feedback.demo.stalled", task=task.task_number, stage=task.workflow_stage, wanted=stage)
                return task
            await asyncio.sleep(_POLL_SECONDS)


def start_demo_seed(
    database: Database, settings: Settings, graphs: GraphRegistry, *, announce: bool
) -> asyncio.Task[None] | None:
    """The app's start-up: seed in the background when enabled, so serving does not wait for it."""
    if not demo_seed_enabled(settings):
        return None

    async def run() -> None:
        try:
            seeded = await seed_demo(database, settings, graphs)
        except Exception:  # the demo is a courtesy: the service keeps running without it
            log.exception("feedback.demo.failed")
            return
        if seeded is not None and announce:
            from rich.console import Console

            Console(stderr=True, highlight=False, soft_wrap=True).print(f"  [bold]{seeded.banner()}[/]")

    return asyncio.create_task(run(), name="demo-seed")


async def stop_demo_seed(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass

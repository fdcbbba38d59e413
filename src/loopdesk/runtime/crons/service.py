"""Crons: schedules owned by a user that create runs when due. A periodic queue job fires the due
ones (`FOR UPDATE SKIP LOCKED`, one transaction per cron: with any number of workers each firing
happens once), as the cron's owner, through the same RunService as the API and counted against the
owner's run rate limit. A deactivated owner's crons stop."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.service import record
from loopdesk.core.db import Database
from loopdesk.core.errors import Conflict, LoopdeskError, NotFound, RateLimited
from loopdesk.core.ratelimit import RateLimiter
from loopdesk.core.settings import SessionSettings
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.crons.models import Cron
from loopdesk.runtime.crons.schemas import CronCount, CronCreate, CronPatch, CronSearch
from loopdesk.runtime.custom_auth import Authorizer
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.paging import split_page
from loopdesk.runtime.runs.limits import check_run_rate
from loopdesk.runtime.runs.schemas import RunCreate
from loopdesk.runtime.runs.service import RunService
from loopdesk.runtime.threads.repository import ThreadRepository
from loopdesk.runtime.threads.service import ThreadNotFound
from loopdesk.users.models import Role, User

log = structlog.get_logger("loopdesk.crons")

RUN_FIELDS = set(RunCreate.model_fields)


class CronNotFound(NotFound):
    code, message = "cron_not_found", "Cron not found"


class CronLimitReached(Conflict):
    code, message = "cron_limit_reached", "You have as many crons as allowed: delete one first"


def next_run(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first time strictly after `after` that the schedule names, read in the cron's time zone."""
    zone = ZoneInfo(timezone or "UTC")
    return croniter(schedule, after.astimezone(zone)).get_next(datetime).astimezone(UTC)


class CronService:
    def __init__(
        self,
        session: AsyncSession,
        graphs: GraphRegistry,
        authz: Authorizer | None = None,
        *,
        max_per_customer: int | None = None,
    ):
        """`max_per_customer`: how many crons a customer may own (None: no cap); staff are not capped."""
        self.session = session
        self.graphs = graphs
        self.authz = authz or Authorizer()
        self.max_per_customer = max_per_customer

    def _readable(self, caller: User) -> Select[tuple[Cron]]:
        statement = select(Cron)
        return statement if caller.role == Role.admin else statement.where(Cron.owner_id == caller.id)

    async def create(self, caller: User, thread_id: uuid.UUID | None, data: CronCreate) -> Cron:
        value = {"thread_id": thread_id, "assistant_id": data.assistant_id, "metadata": dict(data.metadata or {})}
        await self.authz(caller, "crons", "create", value)
        data.metadata = value.get("metadata") or None
        assistant = await AssistantService(self.session, self.graphs, self.authz).get(caller, data.assistant_id)
        if thread_id is not None and await ThreadRepository(self.session).get_readable(caller, thread_id) is None:
            raise ThreadNotFound(detail={"thread_id": str(thread_id)})
        await self._check_cap(caller)
        payload = data.model_dump(mode="json", include=RUN_FIELDS, exclude_none=True)
        payload["assistant_id"] = str(assistant.assistant_id)
        now = datetime.now(UTC)
        cron = Cron(
            cron_id=uuid.uuid4(),
            owner_id=caller.id,
            assistant_id=assistant.assistant_id,
            thread_id=thread_id,
            schedule=data.schedule,
            timezone=data.timezone,
            payload=payload,
            metadata_=data.metadata or {},
            enabled=data.enabled,
            on_run_completed=data.on_run_completed if thread_id is None else None,
            end_time=data.end_time,
            next_run_date=next_run(data.schedule, data.timezone, now),
        )
        self.session.add(cron)
        await self.session.flush()
        await self.session.refresh(cron)
        log.info("crons.created", cron_id=str(cron.cron_id), schedule=cron.schedule, timezone=cron.timezone)
        return cron

    async def _check_cap(self, caller: User) -> None:
        if self.max_per_customer is None or caller.is_staff:
            return
        # Serialises one user's creations until commit, so that parallel requests cannot pass the cap together.
        await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"crons:{caller.id}", 0))))
        owned = await self.session.scalar(select(func.count()).select_from(Cron).where(Cron.owner_id == caller.id))
        if (owned or 0) >= self.max_per_customer:
            raise CronLimitReached(detail={"limit": self.max_per_customer})

    async def get(self, caller: User, cron_id: uuid.UUID, *, for_update: bool = False, action: str = "read") -> Cron:
        statement = self._readable(caller).where(Cron.cron_id == cron_id)
        cron = await self.session.scalar(statement.with_for_update() if for_update else statement)
        if cron is not None:
            if not await self.authz.allows(caller, "crons", action, {"cron_id": cron_id}, cron.metadata_):
                cron = None
        if cron is None:
            raise CronNotFound(detail={"cron_id": str(cron_id)})
        return cron

    async def patch(self, caller: User, cron_id: uuid.UUID, data: CronPatch) -> Cron:
        cron = await self.get(caller, cron_id, for_update=True, action="update")
        changes = data.model_dump(exclude_unset=True)
        for key in ("schedule", "timezone", "enabled", "end_time"):
            if key in changes:
                setattr(cron, key, changes.pop(key))
        if "metadata" in changes:
            cron.metadata_ = {**cron.metadata_, **(changes.pop("metadata") or {})}
        if "on_run_completed" in changes:
            cron.on_run_completed = changes.pop("on_run_completed")
        payload_changes = {k: v for k, v in changes.items() if v is not None}
        if payload_changes:
            merged = {
                **cron.payload,
                **RunCreate.model_validate({**cron.payload, **payload_changes}).model_dump(
                    mode="json", include=set(payload_changes), exclude_none=True
                ),
            }
            cron.payload = merged
        cron.next_run_date = next_run(cron.schedule, cron.timezone, datetime.now(UTC))
        cron.updated_at = datetime.now(UTC)
        await self.session.flush()
        return cron

    async def delete(self, caller: User, cron_id: uuid.UUID) -> None:
        await self.session.delete(await self.get(caller, cron_id, for_update=True, action="delete"))

    async def delete_for_assistant(self, assistant_id: uuid.UUID) -> int:
        """Every owner's crons of an assistant being deleted (they would fire for nothing); a firing in
        progress finishes first (its row is locked). Returns how many went."""
        deleted = await self.session.scalars(
            delete(Cron).where(Cron.assistant_id == assistant_id).returning(Cron.cron_id)
        )
        return len(deleted.all())

    def _filters(self, caller: User, assistant_id: str | None, thread_id: uuid.UUID | None,
                 metadata: dict[str, Any] | None) -> list[ColumnElement[bool]]:  # fmt: skip
        filters: list[ColumnElement[bool]] = []
        if caller.role != Role.admin:
            filters.append(Cron.owner_id == caller.id)
        if assistant_id is not None:
            filters.append(Cron.assistant_id == AssistantService(self.session, self.graphs).resolve_id(assistant_id))
        if thread_id is not None:
            filters.append(Cron.thread_id == thread_id)
        if metadata:
            filters.append(Cron.metadata_.contains(metadata))
        return filters

    async def search(self, caller: User, query: CronSearch) -> tuple[Sequence[Cron], bool]:
        metadata = await self.authz.search_metadata(caller, "crons", query.metadata)
        filters = self._filters(caller, query.assistant_id, query.thread_id, metadata)
        if query.enabled is not None:
            filters.append(Cron.enabled == query.enabled)
        column = getattr(Cron, query.sort_by or "created_at")
        order = column.asc() if query.sort_order == "asc" else column.desc()
        statement = select(Cron).where(*filters).order_by(order, Cron.cron_id)
        rows = (await self.session.scalars(statement.offset(query.offset).limit(query.limit + 1))).all()
        return split_page(rows, query.limit)

    async def count(self, caller: User, query: CronCount) -> int:
        metadata = await self.authz.search_metadata(caller, "crons", query.metadata)
        filters = self._filters(caller, query.assistant_id, query.thread_id, metadata)
        return int(await self.session.scalar(select(func.count()).select_from(Cron).where(*filters)) or 0)


async def fire_due_crons(
    database: Database, graphs: GraphRegistry, *, limiter: RateLimiter, settings: SessionSettings, limit: int = 100
) -> int:
    """Create the runs of every due cron and move each to its next date; returns how many fired."""
    fired = 0
    for _ in range(limit):
        async with database.sessionmaker() as session, session.begin():
            now = datetime.now(UTC)
            cron = await session.scalar(
                select(Cron)
                .where(Cron.enabled.is_(True), Cron.next_run_date <= now)
                .order_by(Cron.next_run_date)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if cron is None:
                return fired
            owner = await session.get(User, cron.owner_id)
            bound = log.bind(cron_id=str(cron.cron_id))
            if cron.end_time is not None and cron.end_time <= now:
                cron.enabled, cron.next_run_date = False, None
                bound.info("crons.ended")
                continue
            if owner is None or not owner.is_active:
                cron.enabled, cron.updated_at = False, now
                await record(session, "cron.disabled", "cron", cron.cron_id, actor_id=None, reason="owner_inactive")
                bound.warning("crons.disabled", reason="owner_inactive", owner_id=str(cron.owner_id))
                continue
            if await _fire(session, graphs, cron, owner, limiter, settings):
                fired += 1
            cron.next_run_date = next_run(cron.schedule, cron.timezone, now)
            cron.updated_at = now
    return fired


async def _fire(
    session: AsyncSession,
    graphs: GraphRegistry,
    cron: Cron,
    owner: User,
    limiter: RateLimiter,
    settings: SessionSettings,
) -> bool:
    """One firing as the owner, counted against their run limit; a refused one is skipped (the cron
    stays scheduled). Returns whether a run was created."""
    bound = log.bind(cron_id=str(cron.cron_id))
    try:
        await check_run_rate(limiter, settings, owner)
    except RateLimited as exc:
        retry_after = exc.detail["retry_after"]
        await record(
            session, "cron.skipped", "cron", cron.cron_id, actor_id=None, reason="rate_limited", retry_after=retry_after
        )
        bound.warning("crons.skipped", reason="rate_limited", retry_after=retry_after)
        return False
    payload = {**cron.payload}
    if cron.thread_id is None and cron.on_run_completed:
        payload["on_completion"] = cron.on_run_completed
    try:
        async with session.begin_nested():
            run = await RunService(session, graphs).create(owner, cron.thread_id, RunCreate.model_validate(payload))
    except LoopdeskError as exc:  # the assistant or thread went away, the thread is busy (reject): skip
        bound.warning("crons.skipped", reason=exc.message)
        return False
    bound.info("crons.fired", run_id=str(run.run_id))
    return True

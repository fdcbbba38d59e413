"""The agent set in force: the latest one stored (a file at start, a template, or an admin's PUT), checked when
it is stored, read by every process per turn (one small query; parsed again only when it changed)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.audit.service import record
from loopdesk.core.settings import Settings
from loopdesk.support.agents import DEFAULT_DOCUMENT, AgentsConfigError, AgentSet, parse_agents
from loopdesk.support.reading import intents_dir
from loopdesk.support.repository import AgentSetRepository
from loopdesk.tools.registry import ToolRegistry

if TYPE_CHECKING:
    from loopdesk.core.db import Database
    from loopdesk.tools.runtime import ToolRuntime

log = structlog.get_logger("loopdesk.support.config")

_default = parse_agents(DEFAULT_DOCUMENT, "built-in agents")
_cache: dict[str, tuple[int, AgentSet]] = {}  # per database (a test process serves many): its latest set


async def current_agents(runtime: ToolRuntime) -> AgentSet:
    async with runtime.database.sessionmaker() as session:
        return await agents_in_force(session)


async def agents_in_force(session: AsyncSession) -> AgentSet:
    repository = AgentSetRepository(session)
    latest = await repository.latest_id()
    if latest is None:
        return _default
    database = str(session.get_bind().engine.url)
    cached = _cache.get(database)
    if cached is not None and cached[0] == latest:
        return cached[1]
    row = await repository.get(latest)
    assert row is not None
    try:
        agents = parse_agents(row.document, f"agent set #{row.id} ({row.source})")
    except AgentsConfigError as exc:  # checked when stored: only a changed loopdesk could make it fail now
        log.error("support.agent_set_invalid", error=str(exc))
        return _default
    _cache[database] = (latest, agents)
    return agents


def check(document: str, source: str, registry: ToolRegistry, settings: Settings) -> AgentSet:
    """The set, checked against the tools and named models in force and the intent model it names."""
    agents = parse_agents(document, source, registry=registry, named_models=settings.llm.llm_models.keys())
    if agents.supervisor.intents_model is not None:
        path = intents_dir(agents.supervisor.intents_model, settings)
        if not (path / "model.json").is_file():
            raise AgentsConfigError(
                source,
                None,
                f"supervisor.intents_model: no trained model at {path} (train one with `loopdesk intents train`)",
            )
    return agents


async def store(
    session: AsyncSession,
    document: str,
    source: str,
    *,
    registry: ToolRegistry,
    settings: Settings,
    actor_id: uuid.UUID | None,
) -> tuple[int, AgentSet]:
    agents = check(document, source, registry, settings)
    row = await AgentSetRepository(session).add(document, source, actor_id)
    await record(
        session,
        "support.agents_stored",
        "agent_set",
        None,
        actor_id=actor_id,
        source=source,
        agents=[a.name for a in agents.agents],
        set_id=row.id,
    )
    return row.id, agents


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentsConfigError(str(path), None, f"cannot read the file: {exc.strerror or exc}") from None


async def install_file(database: Database, settings: Settings, registry: ToolRegistry) -> None:
    """At start: the configured agents file, checked (a bad one stops the server with the file and line), stored
    when it differs from the set in force."""
    path = settings.support.support_agents_file
    if path is None:
        return
    document = read_file(path)
    check(document, str(path), registry, settings)
    async with database.sessionmaker() as session, session.begin():
        latest = await AgentSetRepository(session).latest()
        if latest is not None and latest.document == document:
            return
        await store(session, document, str(path), registry=registry, settings=settings, actor_id=None)
    log.info("support.agents_installed", file=str(path))

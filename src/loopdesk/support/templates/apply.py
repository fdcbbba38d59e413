"""A vertical template in one step: its intent model trained, its backend's OpenAPI document imported through the
same importer a user uses (parsed, classified, approved), its approval policy set, its agents put in force.

Applying again is safe: the model is retrained only when its examples changed, the import is replaced only when
its base URL changed, and the agents are stored only when they differ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
import yaml

from loopdesk.core.errors import LoopdeskError
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.support import config
from loopdesk.support.reading import intents_dir
from loopdesk.support.repository import AgentSetRepository
from loopdesk.tools.base import ApprovalMode
from loopdesk.tools.openapi.imports import process_import
from loopdesk.tools.openapi.repository import ImportRepository
from loopdesk.tools.openapi.service import approve_import, create_import
from loopdesk.tools.policy import set_policy
from loopdesk.tools.runtime import ToolRuntime
from loopdesk.users.models import User

log = structlog.get_logger("loopdesk.support.templates")

TEMPLATES = ("ecommerce", "saas", "fintech")
MODES: tuple[ApprovalMode, ...] = ("auto", "require_approval", "deny")
Progress = Callable[[str], None]


class TemplateError(LoopdeskError):
    status_code, code, message = 422, "template_failed", "The template could not be applied"


@dataclass(frozen=True)
class Template:
    name: str
    backend: str
    import_name: str
    title: str
    policies: dict[str, ApprovalMode]
    agents_document: str
    intents: str  # the training examples (JSON lines)


@dataclass
class Applied:
    template: str
    base_url: str
    import_name: str
    tools: list[str] = field(default_factory=list)
    trained: bool = False
    imported: bool = False
    agents_stored: bool = False
    agents: list[str] = field(default_factory=list)


def load_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise TemplateError(f"no template {name!r}; choose one of {', '.join(TEMPLATES)}")
    folder = resources.files("loopdesk.support.templates") / name
    meta = yaml.safe_load((folder / "template.yaml").read_text(encoding="utf-8")) or {}
    policies = dict(meta.get("policies") or {})
    for tool, mode in policies.items():
        if mode not in MODES:
            raise TemplateError(f"template {name}: policy {mode!r} for {tool} is not one of {', '.join(MODES)}")
    return Template(
        name=name,
        backend=str(meta["backend"]),
        import_name=str(meta["import_name"]),
        title=str(meta.get("title") or name),
        policies=policies,
        agents_document=(folder / "agents.yaml").read_text(encoding="utf-8"),
        intents=(folder / "intents.jsonl").read_text(encoding="utf-8"),
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def train_intents(template: Template, out: Path, progress: Progress) -> bool:
    """The template's intent model in `out`, trained unless it was trained from these very examples."""
    from loopdesk.support.intents.model import IntentModel

    stamp = out / "source.sha256"
    digest = _digest(template.intents)
    if stamp.is_file() and stamp.read_text().strip() == digest and (out / "model.json").is_file():
        return False
    examples = []
    for line in template.intents.splitlines():
        if line.strip():
            item = json.loads(line)
            examples.append((str(item["text"]), str(item["intent"])))
    progress(f"training the {template.name} intent model on {len(examples)} examples")
    model = IntentModel.train(examples)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out)
    stamp.write_text(digest + "\n")
    return True


async def apply_template(
    name: str,
    *,
    runtime: ToolRuntime,
    graphs: GraphRegistry,
    admin: User,
    base_url: str,
    progress: Progress = lambda _: None,
) -> Applied:
    import asyncio

    from loopdesk.support.demo.backends import openapi_document

    template = load_template(name)
    settings, database = runtime.settings, runtime.database
    applied = Applied(template=name, base_url=base_url, import_name=template.import_name)
    applied.trained = await asyncio.to_thread(train_intents, template, intents_dir(template.name, settings), progress)

    async with database.sessionmaker() as session, session.begin():
        imports = ImportRepository(session)
        existing = await imports.by_name(template.import_name)
        keep = existing is not None and existing.status == "approved" and existing.base_url == base_url
        if existing is not None and not keep:
            await imports.delete(existing)
            await session.flush()
        if not keep:
            progress(f"importing the {template.backend} API ({base_url})")
            document = json.dumps(openapi_document(template.backend)).encode()
            row = await create_import(
                session,
                settings,
                admin,
                name=template.import_name,
                url=None,
                document=document,
                base_url=base_url,
                credentials=None,
                assistant_ids=[],
            )
            import_id = row.id
    if not keep:
        await process_import(database, settings, import_id)
        async with database.sessionmaker() as session, session.begin():
            row = await ImportRepository(session).get(import_id, for_update=True)
            if row is None or row.status != "review":
                raise TemplateError(f"the {template.backend} API could not be imported: {row.error if row else 'gone'}")
            await approve_import(session, graphs, admin, row, [])
            applied.imported = True
    registry = await runtime.fresh_registry()
    applied.tools = sorted(s.name for s in registry.select([f"openapi:{template.import_name}/*"]))

    async with database.sessionmaker() as session, session.begin():
        for tool, mode in template.policies.items():
            await set_policy(session, tool, None, mode)
        latest = await AgentSetRepository(session).latest()
        agents = config.check(template.agents_document, f"template {name} agents.yaml", registry, settings)
        if latest is None or latest.document != template.agents_document:
            await config.store(
                session,
                template.agents_document,
                f"template:{name}",
                registry=registry,
                settings=settings,
                actor_id=admin.id,
            )
            applied.agents_stored = True
        applied.agents = [a.name for a in agents.agents]
    log.info(
        "support.template_applied",
        template=name,
        tools=len(applied.tools),
        trained=applied.trained,
        imported=applied.imported,
    )
    return applied


def describe(applied: Applied) -> dict[str, Any]:
    return {
        "template": applied.template,
        "base_url": applied.base_url,
        "import": applied.import_name,
        "tools": applied.tools,
        "agents": applied.agents,
        "trained": applied.trained,
        "imported": applied.imported,
        "agents_stored": applied.agents_stored,
    }

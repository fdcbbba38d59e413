"""`make run`'s support demo: on the embedded default (with the demo seed), the e-commerce demo backend starts as a
child process on 127.0.0.1:8101 and its template is applied, so the first chat has an agent that acts on a real
shop. Only this process's own backend is added to the outbound allow-list; it stops with the server."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass

import structlog

from loopdesk.core.settings import Settings
from loopdesk.feedback.demo import demo_seed_enabled
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.tools.runtime import ToolRuntime

log = structlog.get_logger("loopdesk.support.demo")

TEMPLATE = "ecommerce"


@dataclass
class SupportDemo:
    process: subprocess.Popen | None
    task: asyncio.Task[None] | None


def support_demo_enabled(settings: Settings) -> bool:
    return demo_seed_enabled(settings) and settings.support.support_demo


def allow_demo_backend(settings: Settings) -> str | None:
    """Let outbound HTTP reach this process's own demo backend (and nothing else on loopback): called before the
    worker and the tools build their outbound policies."""
    if not support_demo_enabled(settings):
        return None
    from loopdesk.support.demo.backends import BACKENDS

    entry = f"127.0.0.1:{BACKENDS[TEMPLATE].port}"
    if entry not in settings.outbound.outbound_allowlist:
        settings.outbound.outbound_allowlist.append(entry)
    return entry


def start_support_demo(settings: Settings, runtime: ToolRuntime, graphs: GraphRegistry) -> SupportDemo | None:
    if not support_demo_enabled(settings):
        return None
    from loopdesk.support.demo.backends import BACKENDS

    port = BACKENDS[TEMPLATE].port
    entry = allow_demo_backend(settings)
    demo = SupportDemo(process=None, task=None)

    async def run() -> None:
        from loopdesk.support.demo.server import spawn
        from loopdesk.support.templates.apply import apply_template
        from loopdesk.users.repository import UserRepository

        try:
            demo.process = await asyncio.to_thread(spawn, TEMPLATE, port, settings.database.data_dir / "demo")
            async with runtime.database.sessionmaker() as session:
                people = await UserRepository(session).staff_members()
            admin = next((p for p in people if p.role == "admin"), None)
            if admin is None:
                return
            await apply_template(TEMPLATE, runtime=runtime, graphs=graphs, admin=admin, base_url=f"http://{entry}")
            log.info("support.demo_ready", template=TEMPLATE, backend=f"http://{entry}")
        except Exception:  # the demo is a courtesy: the service keeps running without it
            log.exception("support.demo_failed")

    demo.task = asyncio.create_task(run(), name="support-demo")
    return demo


async def stop_support_demo(demo: SupportDemo | None) -> None:
    if demo is None:
        return
    if demo.task is not None and not demo.task.done():
        demo.task.cancel()
        try:
            await demo.task
        except asyncio.CancelledError:
            pass
    if demo.process is not None and demo.process.poll() is None:
        demo.process.terminate()
        try:
            await asyncio.to_thread(demo.process.wait, 10)
        except subprocess.TimeoutExpired:
            demo.process.kill()

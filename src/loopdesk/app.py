"""create_app(): the composition root. Routers, middleware and an ordered lifespan:
database (embedded or external) → migrations → first admin → ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from loopdesk import __version__
from loopdesk.auth.endpoints import api_keys_router
from loopdesk.auth.endpoints import router as auth_router
from loopdesk.auth.watch import CredentialWatch
from loopdesk.bootstrap import opened
from loopdesk.console import built as console_built
from loopdesk.console import router as console_router
from loopdesk.core.envelope import ResponseEnvelopeMiddleware
from loopdesk.core.errors import install_error_handlers
from loopdesk.core.logging import configure_logging
from loopdesk.core.middleware import (
    BodySizeLimitMiddleware,
    PlainJsonBodyMiddleware,
    RequestContextMiddleware,
    SeedPathMiddleware,
)
from loopdesk.core.settings import Settings
from loopdesk.core.tracing import configure_tracing, fastapi_telemetry, flush_tracing
from loopdesk.feedback.analytics_endpoints import router as feedback_analytics_router
from loopdesk.feedback.attachment_deps import upload_body_limit
from loopdesk.feedback.attachment_endpoints import router as attachments_router
from loopdesk.feedback.demo import start_demo_seed, stop_demo_seed
from loopdesk.feedback.endpoints import router as feedback_router
from loopdesk.feedback.intake_endpoints import router as feedback_intake_router
from loopdesk.feedback.team_endpoints import router as teams_router
from loopdesk.feedback.workflow_endpoints import router as feedback_workflow_router
from loopdesk.llm.endpoints import router as usage_router
from loopdesk.notifications.endpoints import router as notifications_router
from loopdesk.realtime.gateway import Gateway
from loopdesk.realtime.gateway import router as realtime_router
from loopdesk.runtime.assistants.endpoints import router as assistants_router
from loopdesk.runtime.assistants.service import AssistantService
from loopdesk.runtime.config import load_config
from loopdesk.runtime.crons.endpoints import router as crons_router
from loopdesk.runtime.custom_routes import mount_custom_app
from loopdesk.runtime.graphs import GraphRegistry
from loopdesk.runtime.info import router as info_router
from loopdesk.runtime.runs.endpoints import router as runs_router
from loopdesk.runtime.store.endpoints import router as store_router
from loopdesk.runtime.threads.endpoints import router as threads_router
from loopdesk.runtime.threads.stream_endpoints import router as thread_stream_router
from loopdesk.runtime.worker_process import metrics_socket_path, start_worker_process, stop_worker_process
from loopdesk.sessions.endpoints import router as sessions_router
from loopdesk.support.config import install_file as install_agents_file
from loopdesk.support.conversations.endpoints import router as conversations_router
from loopdesk.support.demo_start import (
    allow_demo_backend,
    start_support_demo,
    stop_support_demo,
    support_demo_enabled,
)
from loopdesk.support.endpoints import router as support_router
from loopdesk.system.endpoints import router as system_router
from loopdesk.system.metrics_state import StateGauges
from loopdesk.tools.approvals.endpoints import router as approvals_router
from loopdesk.tools.approvals.endpoints import seed_router as approvals_seed_router
from loopdesk.tools.endpoints import router as tools_router
from loopdesk.tools.mcp.endpoints import router as mcp_router
from loopdesk.tools.openapi.endpoints import router as openapi_router
from loopdesk.triage.dedup.endpoints import router as dedup_router
from loopdesk.triage.store.endpoints import router as logs_router
from loopdesk.users.bootstrap import CreatedAdmin, bootstrap_admin
from loopdesk.users.endpoints import router as users_router

log = structlog.get_logger("loopdesk.app")

# What browser clients (the LangGraph JS SDK, agent-chat-ui) send and must read across origins.
CORS_ALLOW_HEADERS = [
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Last-Event-ID",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Response-Envelope",  # the seeds' envelope (core/envelope.py)
]
CORS_EXPOSE_HEADERS = ["Content-Location", "Location", "Retry-After", "X-Request-ID", "X-Pagination-Next"]


def create_app(settings: Settings | None = None, *, announce: bool = False, worker_process: bool = False) -> FastAPI:
    """`worker_process`: the queue worker runs as a child process (what `serve` does by default), not in this
    process's event loop."""
    settings = settings or Settings.load()
    configure_logging(settings.logging)
    configure_tracing(settings.tracing, role="api")
    graphs = build_registry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        allow_demo_backend(settings)  # before the outbound policies are built
        async with opened(settings, graphs, readers=True) as services:
            database = services.database
            app.state.database = database
            app.state.persistence = services.persistence
            app.state.event_bus = services.bus
            app.state.rate_limiter = services.rate_limiter
            app.state.tools = services.tools
            worker = app.state.queue_worker = (
                services.queue_worker() if settings.runtime.worker and not worker_process else None
            )
            child = None
            await install_agents_file(database, settings, await services.tools.fresh_registry())
            app.state.realtime = Gateway(settings.realtime)
            app.state.credential_watch = CredentialWatch(database, settings.auth.credential_check_seconds)
            pool_capacity = settings.database.db_pool_size + settings.database.db_max_overflow
            app.state.state_gauges = StateGauges(database, pool_capacity)
            demo = support_demo = None
            try:
                created = await bootstrap_admin(database, settings)
                async with database.sessionmaker() as session, session.begin():
                    await AssistantService(session, graphs).sync_defaults()
                if worker is not None:
                    await worker.start()
                elif settings.runtime.worker:
                    socket = app.state.worker_metrics_socket = metrics_socket_path()  # /metrics adds the child's
                    child = app.state.worker_process = await start_worker_process(settings, services.url, socket)
                await app.state.credential_watch.start()
                await app.state.state_gauges.start()
                log.info("app.ready", version=__version__, embedded_database=settings.database.database_url is None)
                demo = start_demo_seed(database, settings, graphs, announce=announce)  # after the admin and worker
                support_demo = start_support_demo(settings, services.tools, graphs)
                if announce:
                    if demo is not None:  # the first start's demo logs come before the banner, which stays in view
                        await asyncio.wait({demo}, timeout=DEMO_BEFORE_BANNER_SECONDS)
                    _announce(settings, created)
                yield
            finally:
                await stop_demo_seed(demo)
                await stop_support_demo(support_demo)
                await app.state.realtime.close_all()
                await app.state.credential_watch.stop()
                await app.state.state_gauges.stop()
                if worker is not None:
                    await worker.stop()
                await stop_worker_process(child)
                await asyncio.to_thread(flush_tracing)  # the last spans, before the process may exit
        log.info("app.stopped")

    app = FastAPI(
        title="loopdesk",
        version=__version__,
        summary="Self-hosted AI agent service for support and feedback operations",
        lifespan=lifespan,
        telemetry=fastapi_telemetry(),  # a server span per request when tracing is on (core/tracing.py)
    )
    app.state.settings = settings
    app.state.graphs = graphs
    install_error_handlers(app)
    app.add_middleware(SeedPathMiddleware)
    app.add_middleware(PlainJsonBodyMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        limit_for=upload_body_limit(settings),  # attachments: as large as their files
    )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(ResponseEnvelopeMiddleware)  # outside the request context: its 500s are wrapped too
    if origins := settings.server.allowed_origins:  # outermost: error responses carry the CORS headers too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
    for router in (
        system_router,
        info_router,
        auth_router,
        users_router,
        api_keys_router,
        assistants_router,
        threads_router,
        thread_stream_router,
        crons_router,
        runs_router,
        store_router,
        realtime_router,
        approvals_seed_router,  # before tools_router: its paths would read as tool names there
        tools_router,
        approvals_router,
        mcp_router,
        openapi_router,
        usage_router,
        sessions_router,
        logs_router,
        dedup_router,
        feedback_router,
        feedback_intake_router,
        notifications_router,
        attachments_router,
        teams_router,
        feedback_workflow_router,
        feedback_analytics_router,
        support_router,
        conversations_router,
        console_router,  # `/`, its assets and client routes; last of loopdesk's own
    ):
        app.include_router(router)
    if graphs.custom_app is not None:  # langgraph.json `http.app`: after loopdesk's routes, which keep their paths
        mount_custom_app(app, graphs.custom_app)
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for the app: client addresses from the proxy's headers, no Server header, the keep-alive
    timeout and the WebSocket limits."""
    from loopdesk.realtime.gateway import websocket_options

    return {
        "proxy_headers": True,
        "server_header": False,
        "timeout_keep_alive": settings.server.keepalive_seconds,
        **websocket_options(settings.realtime),
    }


def build_registry(settings: Settings) -> GraphRegistry:
    """Graphs to serve: the built-in `agent`, then those of the configured langgraph.json."""
    from loopdesk.agent.graph import CALLER_SETTINGS
    from loopdesk.agent.graph import graph as agent_graph
    from loopdesk.feedback.graph import GRAPH_ID as FEEDBACK_GRAPH_ID
    from loopdesk.feedback.graph import graph as feedback_graph
    from loopdesk.support.graph import CALLER_SETTINGS as SUPPORT_CALLER_SETTINGS
    from loopdesk.support.graph import GRAPH_ID as SUPPORT_GRAPH_ID
    from loopdesk.support.graph import graph as support_graph

    registry = GraphRegistry()
    registry.register("agent", agent_graph, caller_settings=CALLER_SETTINGS)
    registry.register(SUPPORT_GRAPH_ID, support_graph, caller_settings=SUPPORT_CALLER_SETTINGS)
    if settings.feedback.feedback_workflow:
        registry.register(FEEDBACK_GRAPH_ID, feedback_graph, internal=True)
    if settings.runtime.graphs_config is not None:
        registry.load_config(load_config(settings.runtime.graphs_config))
    return registry


DEMO_BEFORE_BANNER_SECONDS = 60


def _announce(settings: Settings, created: CreatedAdmin | None) -> None:
    from rich.console import Console

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    base = f"http://{settings.server.host}:{settings.server.port}"
    where = (
        f"embedded PostgreSQL in {settings.database.data_dir.resolve()}"
        if settings.database.database_url is None
        else "external PostgreSQL (LOOPDESK_DATABASE_URL)"
    )
    console.print(f"\n[bold green]loopdesk {__version__}[/] is running at [bold]{base}/[/]  (API docs: {base}/docs)")
    if console_built():
        console.print(f"  console: open [bold]{base}/[/] in a browser and log in")
    console.print(f"  data: {where}")
    if created is not None and created.generated_password is not None:
        console.print(
            f"  first admin created: [bold]{created.email}[/] / password [bold]{created.generated_password}[/]"
            "  (shown once; change it with PATCH /api/v1/users/me)"
        )
    elif created is not None:
        console.print(f"  first admin created: [bold]{created.email}[/] (password from LOOPDESK_ADMIN_PASSWORD)")
    else:
        console.print(
            "  log in with your admin account (the console, or POST /api/v1/auth/login); `loopdesk users create-admin`"
            " adds another"
        )
    if support_demo_enabled(settings):
        console.print(
            "  support demo: the e-commerce shop at http://127.0.0.1:8101 (orders A1001-A1008); chat with the "
            "[bold]support[/] assistant, staff approve its writes (GET /api/v1/approvals)"
        )
    console.print("  stop with Ctrl-C\n")

"""Who may call what: every route of the app, read from its own route table, against five callers
(anonymous, the customer who owns the resources, another customer, staff, admin), each route's
expectation declared once in RULES. A route added without a rule fails
`test_every_route_of_the_app_has_exactly_one_rule`.

An allowed call may still answer 404, 409 or 422 for other reasons: the matrix checks the authorization
decision, not the feature. Owner routes are called with the owner's real resources (created once per
module), so that "another customer gets 404" proves hiding, not a missing id. No caller may get a 5xx."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum, StrEnum
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import BaseRoute, WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loopdesk.app import create_app
from loopdesk.console import CLIENT_ROUTES
from loopdesk.core.settings import (
    Settings,
)
from loopdesk.support.conversations.service import record_event
from loopdesk.tools.approvals.service import open_approval
from loopdesk.tools.base import ToolSpec
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Account,
    copied_database,
    login,
    register_account,
    suite_settings,
)
from tests.realtime.wsclient import WS, ws_url

# -- callers and what each may get ---------------------------------------------------------------


class Caller(StrEnum):
    ANONYMOUS = "anonymous"
    CUSTOMER = "customer"  # owns every resource the matrix creates
    OTHER = "other customer"
    STAFF = "staff"
    ADMIN = "admin"


class Expect(Enum):
    ALLOWED = "allowed (not 401/403)"
    FOUND = "allowed and found (not 401/403, nor a *_not_found 404)"
    UNAUTHENTICATED = "401"
    FORBIDDEN = "403"
    HIDDEN = "404 (no hint that it exists)"

    def admits(self, response: httpx.Response) -> bool:
        status = response.status_code
        if status >= 500:
            return False
        if self is Expect.ALLOWED:
            return status not in (401, 403)
        if self is Expect.FOUND:  # a 404 about the state of what was found (nothing to cancel) is no hiding
            return status not in (401, 403) and not (status == 404 and _code(response).endswith("not_found"))
        return status == {Expect.UNAUTHENTICATED: 401, Expect.FORBIDDEN: 403, Expect.HIDDEN: 404}[self]


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "not_found"  # a 404 without our envelope names nothing


@dataclass(frozen=True)
class Rule:
    name: str
    expect: Mapping[Caller, Expect]


ALLOWED, FOUND, UNAUTHENTICATED, FORBIDDEN, HIDDEN = Expect


def rule(name: str, *expect: Expect) -> Rule:
    """Expectations in the order of Caller: anonymous, customer, other customer, staff, admin."""
    return Rule(name, dict(zip(Caller, expect, strict=True)))


#                             anonymous        customer   other      staff      admin
PUBLIC = rule("PUBLIC",       ALLOWED,         ALLOWED,   ALLOWED,   ALLOWED,   ALLOWED)  # fmt: skip
SIGNED_IN = rule("SIGNED_IN", UNAUTHENTICATED, ALLOWED,   ALLOWED,   ALLOWED,   ALLOWED)  # fmt: skip
STAFF = rule("STAFF",         UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, ALLOWED,   ALLOWED)  # fmt: skip
ADMIN = rule("ADMIN",         UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, ALLOWED)  # fmt: skip


def owner(name: str, *, staff: Expect, admin: Expect) -> Rule:
    """The customer's own resource: the owner reaches it, another customer gets 404 (never 403)."""
    return rule(name, UNAUTHENTICATED, FOUND, HIDDEN, staff, admin)


# The runtime (threads, runs, assistants, crons): admins see every owner's rows, staff only their own.
OWNER = owner("OWNER", staff=HIDDEN, admin=FOUND)
# Support reads: staff and admins see everyone's (users, sessions) and decide anyone's approvals.
OWNER_OR_STAFF = owner("OWNER_OR_STAFF", staff=FOUND, admin=FOUND)
# A session's conversation is changed by its owner only: staff and admins may read it, not write it.
OWNER_WRITES = owner("OWNER_WRITES", staff=FORBIDDEN, admin=FORBIDDEN)
OWNER_OR_ADMIN_DELETES = owner("OWNER_OR_ADMIN_DELETES", staff=FORBIDDEN, admin=FOUND)
# A task's workflow: staff take the gates (review, assign, close); its customer may not (403), another
# customer does not see the task (404). Progress is the assignee's (or an admin's).
STAFF_ACTS = rule("STAFF_ACTS", UNAUTHENTICATED, FORBIDDEN, HIDDEN, ALLOWED, ALLOWED)  # fmt: skip
ASSIGNEE_ACTS = rule("ASSIGNEE_ACTS", UNAUTHENTICATED, FORBIDDEN, HIDDEN, FORBIDDEN, ALLOWED)  # fmt: skip
# Your API keys are yours alone, whatever your role.
PRIVATE = owner("PRIVATE", staff=HIDDEN, admin=HIDDEN)
# The store: each caller works in a space of their own, where another's item under the same namespace and
# key is simply absent (200 `null`, as on LangGraph's server; tests/runtime/test_store.py shows it is not
# theirs); an admin's unscoped view does not name it either.
SCOPED = rule("SCOPED", UNAUTHENTICATED, FOUND, ALLOWED, ALLOWED, ALLOWED)


@dataclass(frozen=True)
class Case:
    """How to call a route and what each caller must get. Path parameters, query values and body
    strings are filled from `World.ids` ({thread_id}, {run_id}, ...)."""

    rule: Rule
    body: Any = None  # the JSON sent to a route that reads a body; {} when None
    query: Mapping[str, str] = field(default_factory=dict)
    # The call uses up what it names (a delete, a logout): each caller gets a fresh one of the owner's.
    fresh: str | None = None
    # A stream that stays open (it follows what is still to come): judged by its status line alone.
    stream: bool = False


HANDOVER = {"thread_id": "{thread_id}", "customer_id": "{user_id}", "title": "matrix"}
ECHO_RUN = {"assistant_id": "echo", "input": {"messages": ["matrix"]}}
# Never due: the matrix must not start runs behind its back.
CRON = {"assistant_id": "echo", "schedule": "0 0 1 1 *", "enabled": False}
CHECKPOINT = {"checkpoint": {"checkpoint_id": "{checkpoint_id}"}}
# Unlike the world's task: a caller's report must not join it (and so make them one of its reporters).
FEEDBACK = {"title": "Dark mode please", "description": "I would like a dark theme for the dashboard."}
STORE_ITEM = {"namespace": "matrix", "key": "{store_key}"}

# fmt: off
RULES: dict[tuple[str, str], Case] = {
    # system, docs
    ("GET", "/"): Case(PUBLIC),
    # the console's own files: its page on every client route, its assets (no data: it reads the API like anyone)
    ("GET", "/assets/{name:path}"): Case(PUBLIC),
    **{("GET", f"/{page}"): Case(PUBLIC) for page in CLIENT_ROUTES},
    **{("GET", f"/{page}/{{rest:path}}"): Case(PUBLIC) for page in CLIENT_ROUTES},
    ("GET", "/openapi.json"): Case(PUBLIC),
    ("GET", "/docs"): Case(PUBLIC),
    ("GET", "/docs/oauth2-redirect"): Case(PUBLIC),
    ("GET", "/redoc"): Case(PUBLIC),
    ("GET", "/api/v1/health"): Case(PUBLIC),
    ("GET", "/ok"): Case(PUBLIC),
    ("GET", "/metrics"): Case(STAFF),  # or LOOPDESK_METRICS_TOKEN, unset here
    ("GET", "/info"): Case(SIGNED_IN),
    # auth and users
    ("POST", "/api/v1/auth/register"): Case(PUBLIC),
    ("POST", "/api/v1/auth/login"): Case(PUBLIC),
    ("POST", "/api/v1/auth/logout"): Case(SIGNED_IN, fresh="token"),
    ("POST", "/api/v1/users"): Case(PUBLIC),
    ("POST", "/api/v1/users/login"): Case(PUBLIC),
    ("GET", "/api/v1/users/me"): Case(SIGNED_IN),
    ("PATCH", "/api/v1/users/me"): Case(SIGNED_IN),
    ("GET", "/api/v1/users/profile"): Case(SIGNED_IN),
    ("PUT", "/api/v1/users/profile"): Case(SIGNED_IN),
    ("GET", "/api/v1/users"): Case(ADMIN),
    ("GET", "/api/v1/users/{user_id}"): Case(OWNER_OR_STAFF),
    ("PATCH", "/api/v1/users/{user_id}"): Case(ADMIN),
    ("POST", "/api/v1/users/accounts"): Case(
        ADMIN, body={"email": "matrix-made@example.com", "password": "matrix-password", "role": "staff"}
    ),
    ("POST", "/api/v1/api-keys"): Case(SIGNED_IN),
    ("GET", "/api/v1/api-keys"): Case(SIGNED_IN),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Case(PRIVATE),
    # assistants
    ("POST", "/assistants"): Case(SIGNED_IN),
    ("POST", "/assistants/search"): Case(SIGNED_IN),
    ("POST", "/assistants/count"): Case(SIGNED_IN),
    ("GET", "/assistants/{assistant_id}"): Case(OWNER),
    ("PATCH", "/assistants/{assistant_id}"): Case(OWNER),
    ("DELETE", "/assistants/{assistant_id}"): Case(OWNER, fresh="assistant"),
    ("GET", "/assistants/{assistant_id}/graph"): Case(OWNER),
    ("GET", "/assistants/{assistant_id}/schemas"): Case(OWNER),
    ("GET", "/assistants/{assistant_id}/subgraphs"): Case(OWNER),
    ("GET", "/assistants/{assistant_id}/subgraphs/{namespace}"): Case(OWNER),
    ("POST", "/assistants/{assistant_id}/versions"): Case(OWNER),
    ("POST", "/assistants/{assistant_id}/latest"): Case(OWNER, body={"version": 1}),
    # threads
    ("POST", "/threads"): Case(SIGNED_IN),
    ("POST", "/threads/search"): Case(SIGNED_IN),
    ("POST", "/threads/count"): Case(SIGNED_IN),
    ("POST", "/threads/prune"): Case(SIGNED_IN),
    ("GET", "/threads/{thread_id}"): Case(OWNER),
    ("PATCH", "/threads/{thread_id}"): Case(OWNER),
    ("DELETE", "/threads/{thread_id}"): Case(OWNER, fresh="thread"),
    ("POST", "/threads/{thread_id}/copy"): Case(OWNER),
    ("GET", "/threads/{thread_id}/state"): Case(OWNER),
    ("POST", "/threads/{thread_id}/state"): Case(OWNER, body={"values": {"messages": ["matrix"]}}),
    ("POST", "/threads/{thread_id}/state/checkpoint"): Case(OWNER, body=CHECKPOINT),
    ("GET", "/threads/{thread_id}/state/{checkpoint_id}"): Case(OWNER),
    ("POST", "/threads/{thread_id}/history"): Case(OWNER),
    ("GET", "/threads/{thread_id}/history"): Case(OWNER),
    ("POST", "/threads/{thread_id}/commands"): Case(OWNER, body={"id": 1, "method": "run.start", "params": ECHO_RUN}),
    ("POST", "/threads/{thread_id}/stream/events"): Case(OWNER, body={"channels": ["lifecycle"]}, stream=True),
    # crons
    ("POST", "/threads/{thread_id}/runs/crons"): Case(OWNER, body=CRON),
    ("POST", "/runs/crons"): Case(SIGNED_IN),
    ("POST", "/runs/crons/search"): Case(SIGNED_IN),
    ("POST", "/runs/crons/count"): Case(SIGNED_IN),
    ("PATCH", "/runs/crons/{cron_id}"): Case(OWNER),
    ("DELETE", "/runs/crons/{cron_id}"): Case(OWNER, fresh="cron"),
    # runs
    ("POST", "/threads/{thread_id}/runs"): Case(OWNER, body=ECHO_RUN),
    ("POST", "/threads/{thread_id}/runs/stream"): Case(OWNER, body=ECHO_RUN),
    ("POST", "/threads/{thread_id}/runs/wait"): Case(OWNER, body=ECHO_RUN),
    ("GET", "/threads/{thread_id}/runs"): Case(OWNER),
    ("GET", "/threads/{thread_id}/runs/{run_id}"): Case(OWNER),
    ("DELETE", "/threads/{thread_id}/runs/{run_id}"): Case(OWNER, fresh="run"),
    ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): Case(OWNER),
    ("GET", "/threads/{thread_id}/runs/{run_id}/join"): Case(OWNER),
    ("GET", "/threads/{thread_id}/runs/{run_id}/stream"): Case(OWNER),
    ("POST", "/runs"): Case(SIGNED_IN),
    ("POST", "/runs/stream"): Case(SIGNED_IN),
    ("POST", "/runs/wait"): Case(SIGNED_IN),
    ("POST", "/runs/batch"): Case(SIGNED_IN),
    ("POST", "/runs/cancel"): Case(SIGNED_IN),
    # store: every call works in the caller's own space
    ("PUT", "/store/items"): Case(SIGNED_IN),
    ("GET", "/store/items"): Case(SCOPED, query=STORE_ITEM),
    ("DELETE", "/store/items"): Case(SIGNED_IN),
    ("POST", "/store/items/search"): Case(SIGNED_IN),
    ("POST", "/store/namespaces"): Case(SIGNED_IN),
    # realtime (the WebSocket itself is checked in test_the_websocket_...)
    ("GET", "/api/v1/realtime/schema"): Case(SIGNED_IN),
    ("WEBSOCKET", "/ws"): Case(OWNER),  # subscribing to the owner's thread
    # tools and approvals
    ("GET", "/api/v1/tools"): Case(SIGNED_IN),
    ("GET", "/api/v1/tools/{name}"): Case(SIGNED_IN),
    ("GET", "/api/v1/tools/{name}/approval"): Case(ADMIN),
    ("PUT", "/api/v1/tools/{name}/approval"): Case(ADMIN),
    ("DELETE", "/api/v1/tools/{name}/approval"): Case(ADMIN),
    ("GET", "/api/v1/tools/pending-approvals"): Case(SIGNED_IN),
    ("POST", "/api/v1/tools/approvals/{approval_id}/approve"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/tools/approvals/{approval_id}/reject"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/approvals"): Case(SIGNED_IN),
    ("GET", "/api/v1/approvals/{approval_id}"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/approvals/{approval_id}/approve"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/approvals/{approval_id}/reject"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/approvals/{approval_id}/edit"): Case(OWNER_OR_STAFF, body={"args": {}}),
    ("POST", "/api/v1/mcp-servers"): Case(ADMIN),
    ("GET", "/api/v1/mcp-servers"): Case(STAFF),
    ("GET", "/api/v1/mcp-servers/{name}"): Case(STAFF),
    ("POST", "/api/v1/mcp-servers/{name}/refresh"): Case(ADMIN),
    ("DELETE", "/api/v1/mcp-servers/{name}"): Case(ADMIN),
    ("POST", "/api/v1/openapi/import"): Case(ADMIN),
    ("POST", "/api/v1/openapi/import/upload"): Case(ADMIN),
    ("GET", "/api/v1/openapi/jobs"): Case(STAFF),
    ("GET", "/api/v1/openapi/jobs/{job_id}"): Case(STAFF),
    ("GET", "/api/v1/openapi/jobs/{job_id}/classifications"): Case(STAFF),
    ("PUT", "/api/v1/openapi/jobs/{job_id}/classifications/{index}"): Case(STAFF),
    ("PATCH", "/api/v1/openapi/jobs/{job_id}/classifications/{index}"): Case(STAFF),
    ("POST", "/api/v1/openapi/jobs/{job_id}/approve"): Case(ADMIN),
    ("DELETE", "/api/v1/openapi/jobs/{job_id}"): Case(ADMIN),
    ("GET", "/api/v1/usage"): Case(SIGNED_IN),  # a customer's own usage; staff see everyone's
    # sessions
    ("POST", "/api/v1/sessions"): Case(SIGNED_IN),
    ("GET", "/api/v1/sessions"): Case(SIGNED_IN),
    ("GET", "/api/v1/sessions/{session_id}"): Case(OWNER_OR_STAFF),
    ("PATCH", "/api/v1/sessions/{session_id}"): Case(OWNER_WRITES),
    ("DELETE", "/api/v1/sessions/{session_id}"): Case(OWNER_OR_ADMIN_DELETES, fresh="session"),
    ("POST", "/api/v1/sessions/{session_id}/execute"): Case(OWNER_WRITES, body={"message": "matrix"}),
    ("GET", "/api/v1/sessions/{session_id}/stream"): Case(OWNER_OR_STAFF, query={"run_id": "{session_run_id}"}),
    ("GET", "/api/v1/sessions/{session_id}/messages"): Case(OWNER_OR_STAFF),
    ("DELETE", "/api/v1/sessions/{session_id}/messages"): Case(OWNER_WRITES),
    ("POST", "/api/v1/sessions/{session_id}/attachments"): Case(OWNER_WRITES),  # the JSON body: 415 once allowed
    ("GET", "/api/v1/sessions/{session_id}/attachments"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/sessions/{session_id}/attachments/{attachment_id}"): Case(OWNER_OR_STAFF),
    # triage
    ("POST", "/api/v1/logs/ingest"): Case(STAFF),
    ("POST", "/v1/logs"): Case(STAFF),
    ("GET", "/api/v1/logs"): Case(STAFF),
    ("GET", "/api/v1/logs/related"): Case(STAFF),
    ("GET", "/api/v1/logs/anomalies"): Case(STAFF),
    ("POST", "/api/v1/dedup/check"): Case(SIGNED_IN),  # compared with the caller's own items only
    ("GET", "/api/v1/dedup/clusters"): Case(STAFF),
    ("POST", "/api/v1/dedup/links/{item_id}/unlink"): Case(STAFF),
    # feedback: reporters see the tasks they reported (or joined as a duplicate's reporter), staff all
    ("POST", "/api/v1/feedback"): Case(SIGNED_IN, body=FEEDBACK),
    ("GET", "/api/v1/tasks"): Case(SIGNED_IN),
    ("GET", "/api/v1/tasks/{task}"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/tasks/{task}/timeline"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/tasks/{task}/review"): Case(STAFF_ACTS, body={"action": "approve"}),
    ("POST", "/api/v1/tasks/{task}/attachments"): Case(OWNER_OR_STAFF),  # the JSON body: 415 once allowed
    ("GET", "/api/v1/tasks/{task}/attachments"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/tasks/{task}/attachments/{attachment}"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/teams"): Case(STAFF),
    ("POST", "/api/v1/feedback/handover"): Case(STAFF, body=HANDOVER),
    ("POST", "/api/v1/tasks/{task}/reporters/{user_id}/unlink"): Case(STAFF, body={}),
    ("GET", "/api/v1/analytics/feedback"): Case(STAFF),
    ("GET", "/api/v1/notifications/deliveries"): Case(STAFF),
    ("GET", "/api/v1/notification-channels"): Case(ADMIN),
    ("PUT", "/api/v1/notification-channels"): Case(ADMIN, body=[]),
    ("POST", "/api/v1/teams"): Case(ADMIN, body={"name": "matrix-team"}),
    ("GET", "/api/v1/teams/{team_id}"): Case(STAFF),
    ("PATCH", "/api/v1/teams/{team_id}"): Case(ADMIN, body={"description": "x"}),
    ("DELETE", "/api/v1/teams/{team_id}"): Case(ADMIN),
    ("PUT", "/api/v1/teams/{team_id}/members"): Case(ADMIN, body=[]),
    ("GET", "/api/v1/routing-rules"): Case(STAFF),
    ("PUT", "/api/v1/routing-rules"): Case(ADMIN, body=[]),
    ("POST", "/api/v1/tasks/{task}/assign"): Case(STAFF_ACTS, body={"assignee_id": "{user_id}"}),
    ("POST", "/api/v1/tasks/{task}/request-update"): Case(STAFF_ACTS, body={}),
    ("POST", "/api/v1/tasks/{task}/close"): Case(STAFF_ACTS, body={"reason": "matrix"}),
    ("POST", "/api/v1/tasks/{task}/priority"): Case(STAFF_ACTS, body={"level": "P1", "reason": "matrix"}),
    ("POST", "/api/v1/tasks/{task}/progress"): Case(ASSIGNEE_ACTS, body={"done": False}),
    ("POST", "/api/v1/tasks/{task}/verify"): Case(OWNER_OR_STAFF, body={"result": "fail"}),
    ("POST", "/api/v1/tasks/{task}/reopen"): Case(OWNER_OR_STAFF, body={"reason": "matrix"}),
    ("POST", "/api/v1/tasks/{task}/csat"): Case(OWNER_WRITES, body={"score": 5}),
    # support conversations: the customer's own record and replay (staff read all); only the customer resolves
    ("GET", "/api/v1/conversations"): Case(SIGNED_IN),
    ("GET", "/api/v1/conversations/{thread_id}"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/conversations/{thread_id}/resolve"): Case(OWNER_WRITES),
    ("POST", "/api/v1/conversations/{thread_id}/csat"): Case(OWNER_WRITES, body={"score": 5}),
    ("GET", "/api/v1/replay/{thread_id}"): Case(OWNER_OR_STAFF),
    ("GET", "/api/v1/analytics"): Case(STAFF),
    # the support desk: staff read the agents and work the inbox; admins change the agents
    ("GET", "/api/v1/support/agents"): Case(STAFF),
    ("PUT", "/api/v1/support/agents"): Case(ADMIN, body={"document": "agents:\n  - name: desk\n    description: d\n"}),
    ("POST", "/api/v1/support/agents/reload"): Case(ADMIN),
    ("GET", "/api/v1/support/inbox"): Case(STAFF),
    ("GET", "/api/v1/support/models"): Case(STAFF),
    ("POST", "/api/v1/support/escalations/{escalation_id}/take"): Case(STAFF),
    ("POST", "/api/v1/support/escalations/{escalation_id}/release"): Case(STAFF),
    ("POST", "/api/v1/support/conversations/{thread_id}/escalate"): Case(OWNER_OR_STAFF),
    ("POST", "/api/v1/support/conversations/{thread_id}/reply"): Case(STAFF, body={"text": "a person here"}),
}
# fmt: on

HTTP_RULES = {key: case for key, case in RULES.items() if key[0] != "WEBSOCKET"}


def app_routes(app: FastAPI) -> dict[tuple[str, str], BaseRoute]:
    """(method, path) of every route the app serves, WebSocket routes as ("WEBSOCKET", path)."""
    routes: dict[tuple[str, str], BaseRoute] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute | WebSocketRoute):
            routes["WEBSOCKET", context.path] = route
            continue
        methods = context.methods or set()
        for method in methods - ({"HEAD"} if "GET" in methods else set()):  # Starlette's implicit HEAD
            routes[method, context.path] = route
    return routes


def _path(template: str, ids: Mapping[str, str]) -> str:
    """A route's path with its parameters filled in (`{name:path}` as `{name}`)."""
    return re.sub(r"\{(\w+):path\}", r"{\1}", template).format(**ids)


def _fill(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


# -- one app, one set of accounts and resources for the whole module -----------------------------


@pytest.fixture(scope="module")
def database_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    with copied_database(pg_admin_url, template_db, "loopdesk_matrix") as url:
        yield url


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return suite_settings(database_url, tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30):
        yield application


@pytest.fixture(scope="module")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@dataclass
class World:
    """The callers, the customer's resources (`ids`), and how to call a route as each caller."""

    app: FastAPI
    client: httpx.AsyncClient
    accounts: dict[Caller, Account]
    ids: dict[str, str] = field(default_factory=dict)

    def headers(self, caller: Caller) -> dict[str, str]:
        return {} if caller is Caller.ANONYMOUS else self.accounts[caller].headers

    @property
    def owner(self) -> dict[str, str]:
        return self.headers(Caller.CUSTOMER)

    async def build(self) -> None:
        http, owner = self.client, self.owner
        thread = _ok(await http.post("/threads", json={}, headers=owner))["thread_id"]
        run = await self.finished_run(thread)
        async with self.app.state.database.sessionmaker() as db, db.begin():  # the thread's support conversation
            await record_event(db, thread_id=uuid.UUID(thread), kind="message", data={"role": "user"})
        state = _ok(await http.get(f"/threads/{thread}/state", headers=owner))
        session = _ok(await http.post("/api/v1/sessions", json={"assistant_id": "chat"}, headers=owner), 201)
        executed = await http.post(
            f"/api/v1/sessions/{session['session_id']}/execute", json={"message": "hello"}, headers=owner
        )
        _ok(executed)
        store_item = {"namespace": ["matrix"], "key": "secret", "value": {"note": "the owner's"}}
        _ok(await http.put("/store/items", json=store_item, headers=owner), 204)
        key = _ok(await http.post("/api/v1/api-keys", json={"name": "matrix"}, headers=owner), 201)
        report = {"title": "Invoice PDF is blank", "description": "Downloading an invoice gives an empty PDF file."}
        task = _ok(await http.post("/api/v1/feedback", json=report, headers=owner), 201)["task"]
        files = {"file": ("matrix.txt", b"the owner's log", "text/plain")}
        uploaded = await http.post(f"/api/v1/tasks/{task['id']}/attachments", files=files, headers=owner)
        attachment = _ok(uploaded, 201)
        chat_file = await http.post(f"/api/v1/sessions/{session['session_id']}/attachments", files=files, headers=owner)
        escalated = await http.post(f"/api/v1/support/conversations/{thread}/escalate", json={}, headers=owner)
        self.ids = {
            "rest": "some/deep/link",  # a console client route's tail
            "escalation_id": _ok(escalated)["id"],
            "thread_id": thread,
            "run_id": run,
            "checkpoint_id": state["checkpoint"]["checkpoint_id"],
            "assistant_id": (await self.fresh("assistant"))["assistant_id"],
            "cron_id": _ok(await http.post(f"/threads/{thread}/runs/crons", json=CRON, headers=owner))["cron_id"],
            "session_id": session["session_id"],
            "session_run_id": executed.headers["Content-Location"].rsplit("/", 1)[-1],
            "store_key": "secret",
            "key_id": key["id"],
            "approval_id": await self.pending_approval(),
            "user_id": self.accounts[Caller.CUSTOMER].id,
            "task": task["id"],
            "attachment": attachment[0]["id"],
            "attachment_id": _ok(chat_file, 201)[0]["id"],
            "team_id": str(uuid.uuid4()),  # none made: the staff rule is what is checked
            # No owner semantics behind these: a missing one answers 404, which the rules allow.
            "name": "matrix-nothing",
            "namespace": "matrix",
            "job_id": str(uuid.uuid4()),
            "index": "0",
            "item_id": str(uuid.uuid4()),
        }

    async def finished_run(self, thread: str) -> str:
        run = _ok(await self.client.post(f"/threads/{thread}/runs", json=ECHO_RUN, headers=self.owner))["run_id"]
        _ok(await self.client.get(f"/threads/{thread}/runs/{run}/join", headers=self.owner))
        return run

    async def pending_approval(self) -> str:
        """A tool call of the customer's waiting for a decision, on a thread of its own (a decision
        there resumes nothing)."""
        thread = _ok(await self.client.post("/threads", json={}, headers=self.owner))["thread_id"]
        spec = ToolSpec(
            name="refund_order",
            description="Refund an order",
            parameters={"type": "object"},
            side_effect="write",
            source="python",
            source_id="matrix",
        )
        async with self.app.state.database.sessionmaker() as db, db.begin():
            approval = await open_approval(
                db,
                key=f"matrix:{uuid.uuid4()}",
                tool_call_id="call-matrix",
                thread_id=uuid.UUID(thread),
                run_id=None,
                assistant_id=None,
                requester_id=uuid.UUID(self.accounts[Caller.CUSTOMER].id),
                spec=spec,
                args={},
                ttl=timedelta(hours=1),
            )
            return str(approval.id)

    async def fresh(self, kind: str) -> dict[str, str]:
        """A new resource of the customer's, for a call that uses it up."""
        http, owner = self.client, self.owner
        if kind == "thread":
            return {"thread_id": _ok(await http.post("/threads", json={}, headers=owner))["thread_id"]}
        if kind == "run":
            thread = (await self.fresh("thread"))["thread_id"]
            return {"thread_id": thread, "run_id": await self.finished_run(thread)}
        if kind == "assistant":
            created = await http.post("/assistants", json={"graph_id": "echo", "name": "matrix"}, headers=owner)
            return {"assistant_id": _ok(created)["assistant_id"]}
        if kind == "cron":
            created = await http.post(f"/threads/{self.ids['thread_id']}/runs/crons", json=CRON, headers=owner)
            return {"cron_id": _ok(created)["cron_id"]}
        if kind == "session":
            created = await http.post("/api/v1/sessions", json={"assistant_id": "chat"}, headers=owner)
            return {"session_id": _ok(created, 201)["session_id"]}
        raise AssertionError(f"no fresh {kind}")

    async def answer(
        self, method: str, path: str, case: Case, caller: Caller, *, reads_body: bool, server: str | None = None
    ) -> httpx.Response:
        ids, headers = dict(self.ids), self.headers(caller)
        if case.fresh == "token":
            if caller is not Caller.ANONYMOUS:
                account = self.accounts[caller]
                headers = {"Authorization": f"Bearer {await login(self.client, account.email, account.password)}"}
        elif case.fresh is not None:
            ids |= await self.fresh(case.fresh)
        body = _fill(case.body if case.body is not None else {}, ids) if reads_body else None
        # A guard against a stream that never ends (it would hang the suite), not a timing assertion.
        async with asyncio.timeout(60):
            if case.stream:  # over a real server: the in-process transport would wait for the stream's end
                assert server is not None, "a stream case needs the server"
                async with (
                    httpx.AsyncClient(base_url=server) as http,
                    http.stream(
                        method, _path(path, ids), params=_fill(dict(case.query), ids), json=body, headers=headers
                    ) as response,
                ):
                    if response.status_code >= 300:
                        await response.aread()
                    return response
            return await self.client.request(
                method, _path(path, ids), params=_fill(dict(case.query), ids), json=body, headers=headers
            )


@pytest.fixture(scope="module")
async def world(app: FastAPI, client: httpx.AsyncClient) -> World:
    admin_token = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = _ok(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {admin_token}"}))
    accounts = {
        Caller.CUSTOMER: await register_account(client, "owner"),
        Caller.OTHER: await register_account(client, "other"),
        Caller.STAFF: await register_account(client, "staff", role="staff"),
        Caller.ADMIN: Account(id=me["id"], email=ADMIN_EMAIL, password=ADMIN_PASSWORD, token=admin_token),
    }
    world = World(app, client, accounts)
    await world.build()
    return world


# -- the matrix ----------------------------------------------------------------------------------


def test_every_route_of_the_app_has_exactly_one_rule(app: FastAPI):
    served = set(app_routes(app))
    missing = sorted(served - RULES.keys())
    extra = sorted(RULES.keys() - served)
    assert not missing and not extra, (
        f"routes without a rule in RULES (declare who may call them): {missing}; "
        f"rules for routes the app does not serve: {extra}"
    )


PLAIN_RULES = [key for key, case in HTTP_RULES.items() if not case.stream]
STREAM_RULES = [key for key, case in HTTP_RULES.items() if case.stream]


@pytest.mark.parametrize(("method", "path"), PLAIN_RULES, ids=[f"{m} {p}" for m, p in PLAIN_RULES])
async def test_the_route_answers_every_caller_as_its_rule_says(world: World, method: str, path: str):
    await _answers_as_its_rule_says(world, method, path)


@pytest.mark.parametrize(("method", "path"), STREAM_RULES, ids=[f"{m} {p}" for m, p in STREAM_RULES])
async def test_the_open_stream_answers_every_caller_as_its_rule_says(
    world: World, server_url: str, method: str, path: str
):
    await _answers_as_its_rule_says(world, method, path, server=server_url)


async def _answers_as_its_rule_says(world: World, method: str, path: str, server: str | None = None) -> None:
    case = RULES[method, path]
    route = app_routes(world.app).get((method, path))
    assert route is not None, f"the app does not serve {method} {path}"
    reads_body = getattr(route, "body_field", None) is not None
    wrong = []
    for caller in Caller:
        expected = case.rule.expect[caller]
        response = await world.answer(method, path, case, caller, reads_body=reads_body, server=server)
        if not expected.admits(response):
            wrong.append(f"{caller}: expected {expected.value}, got {response.status_code} {response.text[:300]}")
    assert not wrong, f"{method} {path} ({case.rule.name}):\n" + "\n".join(wrong)


async def test_the_websocket_admits_signed_in_callers_to_their_own_threads_only(world: World, server_url: str):
    rule = RULES["WEBSOCKET", "/ws"].rule
    assert rule.expect[Caller.ANONYMOUS] is UNAUTHENTICATED
    async with connect(ws_url(server_url)) as anonymous:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(anonymous.recv(), 30)  # a guard against a hang, not a timing assertion
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    outcome = {FOUND: "ack", HIDDEN: "thread_not_found"}
    expected, got = {}, {}
    for caller in (Caller.CUSTOMER, Caller.OTHER, Caller.STAFF, Caller.ADMIN):
        expected[caller] = outcome[rule.expect[caller]]
        ws = await WS.open(server_url, world.accounts[caller].token)
        reply = await ws.request({"type": "subscribe", "thread_id": world.ids["thread_id"]})
        await ws.close()
        got[caller] = reply["type"] if reply["type"] == "ack" else reply.get("code")
    assert got == expected

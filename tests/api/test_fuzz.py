"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis), against a
real `loopdesk serve` process: whatever a client sends, no 5xx, and every error is the envelope."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from psycopg import sql
from schemathesis import GenerationMode

from loopdesk.core.errors import is_agent_protocol_path
from tests.conftest import TEST_GRAPHS, _with_database

# Derandomized: CI sees the same cases every run (a fresh seed is for local exploration). `make test` sends
# each operation three cases; `make test-e2e` runs the deeper pass (LOOPDESK_FUZZ_EXAMPLES=30).
FUZZ_EXAMPLES = int(os.environ.get("LOOPDESK_FUZZ_EXAMPLES", "3"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
ADMIN = {"email": "fuzz-admin@example.com", "password": "fuzz-admin-password"}


@dataclass
class LiveServer:
    base_url: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def live_server(pg_admin_url: str, template_db: str, tmp_path_factory) -> Iterator[LiveServer]:
    name = f"loopdesk_fuzz_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_db))
        )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPDESK_")}
    env |= {
        "LOOPDESK_DATABASE_URL": _with_database(pg_admin_url, name),
        "LOOPDESK_DATA_DIR": str(tmp_path_factory.mktemp("fuzz")),
        "LOOPDESK_ADMIN_EMAIL": ADMIN["email"],
        "LOOPDESK_ADMIN_PASSWORD": ADMIN["password"],
        "LOOPDESK_LOG_LEVEL": "WARNING",
        "LOOPDESK_LOG_FORMAT": "json",
        "LOOPDESK_GRAPHS_CONFIG": str(TEST_GRAPHS),
    }
    log_path = tmp_path_factory.mktemp("fuzz-log") / "serve.log"
    log_file = log_path.open("w")  # a file, not a pipe: an unread pipe fills up and stalls the server
    process = subprocess.Popen(
        [sys.executable, "-m", "loopdesk", "serve", "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(f"{base}/api/v1/auth/login", json=ADMIN).json()["access_token"]
        key = httpx.post(f"{base}/api/v1/api-keys", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {token}"})
        # An API key, not a JWT: a fuzzed logout must not end the session the rest of the run uses.
        yield LiveServer(base_url=base, headers={"X-API-Key": key.json()["key"]})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log_file.close()
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    output = log_path.read_text()
    assert "unhandled_error" not in output and "Traceback" not in output, output[-5000:]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_request_makes_the_api_fail(live_server, mode):
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @FUZZ_SETTINGS
        def check(case) -> None:
            response = case.call(base_url=live_server.base_url, headers=live_server.headers)
            assert response.status_code < 500, f"{case.operation.label}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                body = response.json()
                # Agent Protocol routes add the top-level `detail` LangGraph's SDK reads (core/errors.py).
                expected = {"error", "detail"} if is_agent_protocol_path(case.operation.path) else {"error"}
                assert set(body) == expected and {"code", "message", "detail"} <= set(body["error"]), body

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid case
    # The process is still healthy after everything it was sent.
    assert httpx.get(f"{live_server.base_url}/api/v1/health", timeout=5).status_code == 200

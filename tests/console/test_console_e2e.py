"""The console end to end (make test-web): a real `loopdesk serve` on its embedded PostgreSQL with the first-start
demo, driven in a real headless Chromium by web/e2e/console.e2e.mjs (log in, switch language, chat until the
support agent asks to cancel an order, approve it from the inbox, see the chat go on; a customer on a phone-sized
screen reports a bug that staff then find on the board). SCREENSHOTS=dir saves the main views (make screenshots)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import _free_port, _start, _stop, _wait_healthy

pytestmark = pytest.mark.web

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"


def test_the_console_logs_in_chats_and_approves_in_chromium(tmp_path):
    node = shutil.which("node")
    assert node, "node is needed for the console's browser test"
    assert (WEB / "node_modules" / "playwright-core").is_dir(), "run `make test-web` (it installs web/node_modules)"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    password = "console-e2e-password"
    process = _start(
        tmp_path / "data",
        port,
        "--config",
        str(REPO / "langgraph.json"),
        LOOPDESK_ADMIN_EMAIL="admin@example.com",
        LOOPDESK_ADMIN_PASSWORD=password,
    )
    try:
        _wait_healthy(process, base, timeout=120)
        customer = {"email": "customer@example.com", "password": "customer-password-1", "display_name": "Ada"}
        assert httpx.post(f"{base}/api/v1/auth/register", json=customer, timeout=10).status_code == 201
        environment = {
            **os.environ,
            "LOOPDESK_BASE": base,
            "LOOPDESK_EMAIL": "admin@example.com",
            "LOOPDESK_PASSWORD": password,
            "LOOPDESK_CUSTOMER_EMAIL": customer["email"],
            "LOOPDESK_CUSTOMER_PASSWORD": customer["password"],
        }
        if shots := os.environ.get("SCREENSHOTS"):
            environment["SCREENSHOTS"] = shots
        result = subprocess.run(
            [node, str(WEB / "e2e" / "console.e2e.mjs")],
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        output = _stop(process)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n--- server ---\n{output[-4000:]}"
    assert "console end to end: passed" in result.stdout

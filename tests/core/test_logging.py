import io
import json

import structlog

from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import LoggingSettings
from tests.conftest import PASSWORD


async def test_json_logs_carry_the_request_id_and_never_a_password(client, make_account):
    account = await make_account("lou")
    stream = io.StringIO()
    configure_logging(LoggingSettings(log_format="json", log_level="INFO", _env_file=None), stream=stream)
    try:
        response = await client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
        structlog.get_logger("loopdesk.test").info("test.event", password=PASSWORD, api_key="ldk_x", user="lou")
    finally:
        configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_id = response.headers["x-request-id"]
    access = next(line for line in lines if line["event"] == "http.request")
    assert access["request_id"] == request_id and access["status"] == 200 and access["path"] == "/api/v1/auth/login"
    assert any(line["event"] == "auth.login" and line["request_id"] == request_id for line in lines)
    event = next(line for line in lines if line["event"] == "test.event")
    assert event["password"] == "***" and event["api_key"] == "***" and event["user"] == "lou"
    assert PASSWORD not in stream.getvalue() and response.json()["access_token"] not in stream.getvalue()


def test_console_tracebacks_do_not_print_local_variables():
    stream = io.StringIO()
    configure_logging(LoggingSettings(log_format="console", _env_file=None), stream=stream)
    try:
        password = "hunter2-" + "local-secret"  # noqa: F841 - a local (built at run time) no log may show
        try:
            raise ValueError("boom")
        except ValueError:
            structlog.get_logger("loopdesk.test").exception("test.failed")
    finally:
        configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
    output = stream.getvalue()
    assert "ValueError" in output and "boom" in output
    assert "hunter2-local-secret" not in output


def test_the_queue_and_uvicorn_start_up_chatter_show_at_debug_level_only():
    import logging

    try:
        configure_logging(LoggingSettings(log_level="INFO", _env_file=None), stream=io.StringIO())
        assert not logging.getLogger("procrastinate.worker").isEnabledFor(logging.INFO)
        assert not logging.getLogger("uvicorn.error").isEnabledFor(logging.INFO)
        assert logging.getLogger("procrastinate.worker").isEnabledFor(logging.WARNING)
        assert logging.getLogger("loopdesk.worker").isEnabledFor(logging.INFO)
        configure_logging(LoggingSettings(log_level="DEBUG", _env_file=None), stream=io.StringIO())
        assert logging.getLogger("procrastinate.worker").isEnabledFor(logging.DEBUG)
    finally:
        configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))

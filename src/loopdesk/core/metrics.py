"""Prometheus metrics (process-wide registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("loopdesk_http_requests_total", "HTTP requests served", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "loopdesk_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

RUNS_FINISHED = Counter("loopdesk_runs_finished_total", "Runs that ended, by graph and outcome", ["graph_id", "status"])
RUN_DURATION = Histogram(
    "loopdesk_run_duration_seconds",
    "Time a worker spent executing a run (one attempt)",
    ["graph_id"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
RUNS_RECOVERED = Counter("loopdesk_runs_recovered_total", "Runs taken up again after their worker died")
RUNS_SUPERSEDED = Counter(
    "loopdesk_run_attempts_superseded_total", "Run attempts stopped because a later attempt took their run up"
)
WEBHOOKS = Counter("loopdesk_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"])

WS_CONNECTIONS = Gauge("loopdesk_ws_connections", "Open WebSocket connections")
WS_FRAMES = Counter("loopdesk_ws_frames_received_total", "WebSocket frames received, by type", ["type"])
WS_ERRORS = Counter("loopdesk_ws_errors_total", "WebSocket error frames sent, by code", ["code"])
EVENT_CATCHUPS = Counter(
    "loopdesk_event_catchups_total", "Readers whose live-event buffer overflowed and who caught up from the log"
)
EVENTS_PUSHED = Counter(
    "loopdesk_live_events_pushed_total", "Run events pushed to this process's readers, by transport", ["via"]
)
TOOL_CALLS = Counter("loopdesk_tool_calls_total", "Tool calls by source kind and outcome", ["source", "outcome"])
APPROVALS = Counter("loopdesk_approvals_total", "Approval decisions by outcome", ["decision"])
LLM_TOKENS = Counter("loopdesk_llm_tokens_total", "Model tokens by provider and direction", ["provider", "direction"])

# Domain events, counted where they happen (which process exports what: loopdesk/system/metrics_state.py).
APPROVAL_DECISION_SECONDS = Histogram(
    "loopdesk_approval_decision_seconds",
    "Time from an approval's request to a person's decision, by decision (expiries are not decisions)",
    ["decision"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
NOTIFICATION_DELIVERIES = Counter(
    "loopdesk_notification_deliveries_total",
    "Notification delivery attempts by kind and outcome (sent, retry: failed and rescheduled, failed: given up)",
    ["kind", "outcome"],
)
LLM_CALLS = Counter("loopdesk_llm_calls_total", "Model calls that ended (answered, failed or cancelled)", ["provider"])
LLM_ERRORS = Counter(
    "loopdesk_llm_errors_total", "Failed model calls by provider and kind (retryable, fatal)", ["provider", "kind"]
)
LLM_LATENCY = Histogram(
    "loopdesk_llm_request_duration_seconds",
    "Time a model call took to answer (retries included), by provider",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
LLM_COST = Counter("loopdesk_llm_cost_usd_total", "Model cost in US dollars (priced calls only)", ["provider"])
# Per process (core/breaker.py): kind is llm or openapi; target a model (named, or provider:model) or an import.
CIRCUIT_STATE = Gauge(
    "loopdesk_circuit_state",
    "Circuit breaker state by kind and target: 0 closed, 1 half-open (one probe call), 2 open (calls fail at once)",
    ["kind", "target"],
)
CIRCUIT_TRANSITIONS = Counter(
    "loopdesk_circuit_transitions_total",
    "Circuit breaker state changes by kind, target and new state",
    ["kind", "target", "to"],
)

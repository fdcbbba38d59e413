"""Settings, grouped by concern; every variable is `LOOPDESK_<NAME>` (see the README table)."""

from __future__ import annotations

import os
import re
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from loopdesk.triage.dedup.config import DedupSettings
from loopdesk.triage.sla import BusinessCalendar

Environment = Literal["development", "test", "production"]

# Values that must never protect a production deployment.
_WEAK_SECRETS = {"", "changeme", "change-me", "changethis", "secret", "password", "admin", "loopdesk"}


def _parse_rate(value: str) -> str:
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError as exc:
        raise ValueError(f"not a rate limit such as '5/minute': {value!r}") from exc
    return value


class _Group(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOPDESK_", env_file=".env", extra="ignore")


# Where browser front ends run in development (agent-chat-ui, Vite), unless LOOPDESK_CORS_ORIGINS says otherwise.
DEV_CORS_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000", "http://localhost:5173", "http://127.0.0.1:5173")


class ServerSettings(_Group):
    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="request bodies above this get 413")
    keepalive_seconds: int = Field(
        75,
        ge=1,
        le=3600,
        description="an idle keep-alive HTTP connection stays open this long: longer than a proxy's or client's own "
        "idle reuse (nginx upstream 60 s), so none sends a request on a connection the server is closing",
    )
    cors_origins: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="browser origins allowed to call the API (comma-separated or a JSON list); "
        "unset = none in production and tests, localhost:3000 and :5173 in development",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origin_shape(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        origins = [origin.rstrip("/") for origin in value]
        for origin in origins:
            if origin != "*" and (not origin.startswith(("http://", "https://")) or origin.count("/") != 2):
                raise ValueError(f"an origin is scheme://host[:port] without a path, not {origin!r}")
        return origins

    @property
    def allowed_origins(self) -> list[str]:
        if self.cors_origins is not None:
            return self.cors_origins
        return list(DEV_CORS_ORIGINS) if self.env == "development" else []


class DatabaseSettings(_Group):
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("LOOPDESK_DATABASE_URL", "DATABASE_URL"),
        description="external PostgreSQL (also read from DATABASE_URL); unset = embedded",
    )
    data_dir: Path = Path(".loopdesk")
    db_pool_size: int = Field(10, ge=1, le=200)
    db_max_overflow: int = Field(10, ge=0, le=200)
    db_prepared_statements: bool = Field(
        True,
        description="server-side prepared statements for repeated queries (false behind a PgBouncer older than"
        " 1.21 in transaction mode)",
    )
    embedded_db_name: str = "loopdesk"
    migrate_on_start: bool = Field(True, description="apply migrations when the server starts")


class AuthSettings(_Group):
    jwt_secret: SecretStr | None = Field(None, description="HS256 key; unset in dev = generated into the data dir")
    jwt_ttl_minutes: int = Field(60 * 12, ge=1)
    credential_check_seconds: float = Field(
        2.0, gt=0, le=60, description="how often open sockets and streams re-check their key or token"
    )
    cookie_name: str = "loopdesk_session"
    cookie_secure: bool | None = Field(None, description="default: true in production")
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    login_limit_per_account: str = Field(
        "5/minute",
        description="failed password checks (login, current_password) per account from one client address; past "
        "it that address gets 429 for the account while other addresses still log in (see login_slowdown_*)",
    )
    login_limit_per_ip: str = Field("20/minute", description="password checks per client address, any account")
    login_slowdown_per_account: str = Field(
        "10/15 minutes",
        description="failed password checks per account from all addresses after which every attempt on it waits "
        "(0.25 s, doubling per further failure, up to login_slowdown_max_seconds): a cap here would let an "
        "attacker lock the owner out from everywhere, a bounded wait only slows guessing",
    )
    login_slowdown_max_seconds: float = Field(2.0, ge=0, le=10, description="longest wait login_slowdown imposes")
    register_limit_per_ip: str = Field("10/hour", description="registrations per client address")
    metrics_token: SecretStr | None = Field(None, description="bearer token Prometheus may scrape /metrics with")
    secrets_key: SecretStr | None = Field(
        None, description="key for credentials stored in the database; unset = derived from the JWT key"
    )

    @field_validator(
        "login_limit_per_account", "login_limit_per_ip", "login_slowdown_per_account", "register_limit_per_ip"
    )
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        return _parse_rate(value)


class LoggingSettings(_Group):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=AliasChoices("LOOPDESK_LOG_LEVEL", "LOG_LEVEL")
    )
    log_format: Literal["console", "json"] = "console"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class TracingSettings(_Group):
    """OpenTelemetry traces (core/tracing.py), exported over OTLP/HTTP to a collector the operator runs."""

    otel_enabled: bool = Field(False, description="export traces (off: no tracer is set up, nothing is recorded)")
    otel_endpoint: str = Field(
        "http://127.0.0.1:4318",
        description="the collector's OTLP/HTTP base URL (spans are POSTed to <endpoint>/v1/traces) or the full "
        "traces URL; http or https only",
    )
    otel_service_name: str = Field("loopdesk", min_length=1, max_length=100, description="the service.name resource")
    otel_sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces recorded; a run follows its request's decision"
    )

    @field_validator("otel_endpoint")
    @classmethod
    def _http_endpoint(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:4318, not {value!r}")
        return value


class RedisSettings(_Group):
    redis_url: SecretStr | None = None

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "redis+unix://")):
            raise ValueError("must start with redis://, rediss:// or redis+unix://")
        return value


class OutboundSettings(_Group):
    outbound_allowlist: list[str] = Field(
        default_factory=list,
        description="hosts or CIDRs outbound HTTP may reach although private or loopback (JSON list)",
    )
    net_allowlist: str = Field(
        "", description="comma-separated hosts, host:port or CIDRs outbound HTTP may reach although private"
    )
    outbound_timeout_seconds: float = Field(10.0, gt=0, le=300)

    @property
    def allowlist(self) -> list[str]:
        return [*self.outbound_allowlist, *(e.strip() for e in self.net_allowlist.split(",") if e.strip())]


class BreakerSettings(_Group):
    """Circuit breakers on model providers and imported APIs (core/breaker.py); each process keeps its own."""

    breaker_failures: int = Field(
        5,
        ge=0,
        le=1000,
        description="consecutive failures (5xx, timeouts, lost connections; never a 4xx) of one model or imported "
        "API that open its circuit: its calls then fail at once (0 = no circuit breakers)",
    )
    breaker_reset_seconds: float = Field(
        30.0, gt=0, le=3600, description="how long an open circuit fails calls before one probe call may go through"
    )


class ToolSettings(_Group):
    plugins_dir: Path | None = Field(None, description="a folder of Python tool plugins (*.py) to load")
    mcp_servers_file: Path | None = Field(None, description="a JSON or YAML list of MCP servers to register")
    approval_ttl_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60, description="pending approvals expire after")
    approval_sweep_seconds: int = Field(30, ge=1, le=59, description="how often expired approvals are settled")
    tool_timeout_seconds: float = Field(30.0, gt=0, le=3600, description="longest a tool call may take")


class FeedbackSlaSettings(_Group):
    sla_check_interval_seconds: int = Field(
        60, ge=1, le=3600, description="how often the SLA job checks open tasks (a divisor of 60 s or of 60 min)"
    )
    sla_business_calendars: dict[Literal["domestic", "international"], BusinessCalendar] = Field(
        default_factory=dict,
        description="working hours per region, as JSON {region: {workdays, start, end, holidays, extra_workdays}} "
        "(triage.sla.BusinessCalendar); a region without one counts round the clock",
    )
    sla_warn_fraction: float = Field(0.8, gt=0, lt=1, description="share of a stage's limit used when it warns")

    @field_validator("sla_check_interval_seconds")
    @classmethod
    def _even_interval(cls, value: int) -> int:
        # A cron step must divide its field, else the gaps are uneven (*/45 s fires at :45 and :00).
        if (value < 60 and 60 % value) or (value >= 60 and (value % 60 or 60 % (value // 60))):
            raise ValueError("must divide a minute (1-30 s) or an hour (1-60 min, given in seconds)")
        return value

    @property
    def sla_check_cron(self) -> str:
        seconds = self.sla_check_interval_seconds
        if seconds < 60:
            return f"* * * * * */{seconds}"
        minutes = seconds // 60
        return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


class RuntimeSettings(_Group):
    graphs_config: Path | None = Field(None, description="a langgraph.json whose graphs to serve")
    worker: bool = Field(True, description="run queue workers inside `serve` (false: use `loopdesk worker`)")
    worker_process: bool = Field(
        True,
        description="`serve` runs its worker as a child process (false: inside the API process): graph work never"
        " holds up the API's event loop",
    )
    worker_concurrency: int = Field(10, ge=1, le=1000, description="runs a worker executes at once")
    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="`loopdesk worker` serves its Prometheus metrics over HTTP on this port (0: off; serve's own"
        " worker child is included in serve's /metrics instead)",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="address of the worker's metrics port (unauthenticated: a private address)"
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0, le=300, description="idle seconds between SSE `: heartbeat` lines (and `runs/wait` keep-alives)"
    )
    stall_timeout_seconds: float = Field(
        10.0, ge=3, le=3600, description="a worker silent this long is dead: its runs are taken up elsewhere"
    )
    default_assistant: str = Field(
        "agent", min_length=1, max_length=200, description="assistant (or graph) id for chat messages that name none"
    )
    max_crons_per_user: int = Field(
        20,
        ge=0,
        le=100_000,
        description="crons a customer may own (one more: 409 cron_limit_reached); staff and admins are not capped",
    )


class SessionSettings(_Group):
    session_ttl_minutes: float = Field(
        30.0, ge=0, le=365 * 24 * 60, description="a customer's session expires after this much inactivity (0 = never)"
    )
    staff_session_ttl_minutes: float = Field(
        0.0, ge=0, le=365 * 24 * 60, description="the same for staff and admins (0 = never)"
    )
    max_message_chars: int = Field(10_000, ge=1, le=1_000_000, description="longest message a session executes")
    run_rate_limit: str = Field("30/minute", description="runs a customer may start (execute, Agent Protocol runs)")
    staff_run_rate_limit: str = Field("600/minute", description="runs a staff member or admin may start")

    @field_validator("run_rate_limit", "staff_run_rate_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        return _parse_rate(value)


class RealtimeSettings(_Group):
    ws_ping_seconds: float = Field(25.0, gt=0, le=3600, description="WebSocket protocol pings from the server")
    ws_ping_timeout_seconds: float = Field(20.0, gt=0, le=3600, description="a peer silent this long after a ping goes")
    ws_message_rate: str = Field("10/10 seconds", description="`message` frames allowed per thread")
    ws_max_content_chars: int = Field(10_000, ge=1, le=1_000_000, description="longest `message` content")
    ws_max_frame_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024, description="largest client frame")
    ws_max_subscriptions: int = Field(100, ge=1, le=100_000, description="threads one connection may follow")
    ws_buffer_events: int = Field(
        1024, ge=16, le=1_000_000, description="live events held per subscription before it catches up from the log"
    )

    @field_validator("ws_message_rate")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        return _parse_rate(value)


Provider = Literal[
    "openai",
    "qwen",
    "dashscope",
    "vllm",
    "ollama",
    "openrouter",
    "azure",
    "azure_openai",
    "anthropic",
    "gemini",
    "google",
    "scripted",
    "offline",
]
PROVIDERS: tuple[str, ...] = get_args(Provider)

# Approximate public list prices in USD per 1M (input, output) tokens; override with LOOPDESK_LLM_PRICES.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "qwen-turbo": (0.05, 0.20),
    "qwen-plus": (0.40, 1.20),
    "qwen-max": (1.60, 6.40),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
}


# What a model's settings may hold (named models, assistants); the LLM factory reads the same set.
MODEL_SPEC_KEYS = frozenset(
    {"provider", "model", "base_url", "api_key_env", "temperature", "timeout", "max_retries", "script", "deployment",
     "api_version"}
)  # fmt: skip
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class LLMSettings(_Group):
    llm_provider: Provider | None = Field(
        None,
        description="openai, qwen (alias dashscope), vllm, ollama, openrouter, azure (alias azure_openai), anthropic, "
        "gemini (alias google), scripted, offline; unset = offline, or qwen when only TONGYI_API_KEY is set",
    )
    llm_model: str | None = Field(
        None, description="model name, e.g. gpt-4o-mini or qwen-plus (for `scripted`: the script's path)"
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; required for vllm, defaults exist for qwen, openrouter, ollama"
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key; unset = the provider's usual variable (OPENAI_API_KEY, DASHSCOPE_API_KEY, ...)"
    )
    llm_timeout_seconds: float = Field(60.0, gt=0, le=3600, description="timeout of one model request")
    llm_max_retries: int = Field(
        3, ge=0, le=20, description="retries of timeouts, connection errors, 429, 5xx, with exponential backoff"
    )
    llm_temperature: float | None = Field(
        None, ge=0, le=2, description="sampling temperature; unset = provider default"
    )
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES),
        description="USD per 1M (input, output) tokens by model (JSON); approximate defaults, override to be exact",
    )
    azure_openai_endpoint: str | None = Field(
        None, description="https://<resource>.openai.azure.com for provider azure; unset = AZURE_OPENAI_ENDPOINT"
    )
    azure_openai_api_version: str | None = Field(
        None, description="Azure OpenAI API version; unset = OPENAI_API_VERSION, else 2024-10-21"
    )
    llm_models: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named models (JSON): {name: {provider, model, base_url, api_key_env, ...}}; assistants and runs "
        "refer to a name, and only here may a model have its own base URL or key variable",
    )
    llm_models_file: Path | None = Field(
        None, description="a YAML or JSON file of named models (as LOOPDESK_LLM_MODELS)"
    )
    # The seed's variables: TONGYI_API_KEY alone selects qwen (DashScope); LOOPDESK_LLM_* always win.
    tongyi_api_key: SecretStr | None = Field(None, validation_alias="TONGYI_API_KEY", exclude=True)
    tongyi_model_name: str | None = Field(None, validation_alias="TONGYI_MODEL_NAME", exclude=True)

    @model_validator(mode="after")
    def _named_models(self) -> LLMSettings:
        """The file's models under the variable's; names and keys checked at start-up, not at the first run."""
        models: dict[str, Any] = {}
        if self.llm_models_file is not None:
            import yaml

            try:
                loaded = yaml.safe_load(self.llm_models_file.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"LOOPDESK_LLM_MODELS_FILE {self.llm_models_file}: {exc}") from None
            if not isinstance(loaded, dict):
                raise ValueError("LOOPDESK_LLM_MODELS_FILE must hold a mapping of model names to settings")
            models.update(loaded)
        models.update(self.llm_models)
        for name, spec in models.items():
            if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
                raise ValueError(f"model name {name!r}: letters, digits, '.', '_' and '-' only (no ':')")
            if not isinstance(spec, dict) or not spec.get("provider"):
                raise ValueError(f"named model {name!r} needs at least a 'provider'")
            if unknown := set(spec) - MODEL_SPEC_KEYS:
                raise ValueError(f"named model {name!r} has unknown keys {sorted(unknown)}")
        self.llm_models = models
        return self

    @model_validator(mode="after")
    def _tongyi_fallback(self) -> LLMSettings:
        if self.llm_provider is None and self.tongyi_api_key is not None and self.tongyi_api_key.get_secret_value():
            self.llm_provider = "qwen"
            self.llm_api_key = self.llm_api_key or self.tongyi_api_key
            self.llm_model = self.llm_model or self.tongyi_model_name or "qwen-plus"
        return self


# What a task's attachments may be by default: screenshots, logs and exports, documents.
DEFAULT_ATTACHMENT_TYPES = (
    "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "application/json", "application/zip",
    "application/gzip", "application/x-ndjson", "text/csv", "application/pdf",
)  # fmt: skip
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


class AttachmentSettings(_Group):
    attachment_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024, description="largest attachment file (bigger: 413)"
    )
    attachment_max_files: int = Field(10, ge=1, le=1000, description="attachments one task may hold")
    attachment_content_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ATTACHMENT_TYPES),
        description="media types an attachment may have (comma-separated or a JSON list); images, zip, gzip and "
        "PDF must also start with their format's magic bytes, text types must be UTF-8",
    )

    @field_validator("attachment_content_types", mode="before")
    @classmethod
    def _split_types(cls, value: object) -> object:
        if isinstance(value, str):
            import json

            return json.loads(value) if value.strip().startswith("[") else value.split(",")
        return value

    @field_validator("attachment_content_types")
    @classmethod
    def _media_types(cls, value: list[str]) -> list[str]:
        types = list(dict.fromkeys(item.strip().lower() for item in value if item.strip()))
        for media_type in types:
            if not _MEDIA_TYPE.fullmatch(media_type) or len(media_type) > 100:  # the column's width
                raise ValueError(f"not a media type such as image/png: {media_type!r}")
        return types

    @property
    def upload_body_bytes(self) -> int:
        """The request body an upload may send: every file at its largest, and room for the form's fields."""
        return self.attachment_max_files * self.attachment_max_bytes + 1024 * 1024


class FeedbackSettings(_Group):
    feedback_analysis_lookback_hours: float = Field(
        24.0, gt=0, le=24 * 90, description="log analysis looks this far back from a report's time (and 1 h after it)"
    )
    feedback_module_keywords: dict[str, list[str]] = Field(
        default_factory=dict,
        description='words of a report that name a module of the logs (JSON), e.g. {"支付": "payments", '
        '"checkout": ["payments", "cart"]}; modules the logs know are found by name without it',
    )
    feedback_analysis_model: str | None = Field(
        None,
        description="a named model (LOOPDESK_LLM_MODELS) that writes the analysis' root-cause hypothesis and "
        "recommendation from the log evidence; unset = written by rules",
    )
    feedback_archive_after_days: float = Field(
        30,
        ge=0,
        le=3650,
        description="closed and rejected tasks are archived this many days after they finished (0 = never); "
        "archived tasks leave the default task list and stay searchable (`archived=include|only`)",
    )
    feedback_auto_intake_seconds: int = Field(
        300,
        ge=0,
        le=86400,
        description="how often the log store's anomalies open (or join) `auto` tasks; 0 = off. A divisor of a "
        "minute, of an hour in whole minutes or of a day in whole hours (e.g. 30, 300, 3600)",
    )
    feedback_auto_intake_lookback_hours: float = Field(
        3.0, gt=0, le=168, description="automatic intake scans each module's error rate over this many last hours"
    )
    feedback_workflow: bool = Field(
        True, description="start each new task's workflow graph (analysis, routing); false: intake only (benchmarks)"
    )
    demo_seed: bool | None = Field(
        None,
        description="seed the demo (teams, staff, rules, a week of logs, reports) at start-up while no team exists; "
        "unset = on for the embedded default database, off when LOOPDESK_DATABASE_URL is set",
    )

    @field_validator("feedback_module_keywords", mode="before")
    @classmethod
    def _module_lists(cls, value: object) -> object:
        if isinstance(value, dict):
            return {key: [item] if isinstance(item, str) else item for key, item in value.items()}
        return value

    @field_validator("feedback_module_keywords")
    @classmethod
    def _keywords_and_modules(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        cleaned: dict[str, list[str]] = {}
        for key, modules in value.items():
            word, names = key.strip(), [m.strip() for m in modules if m.strip()]
            if not word or not names or len(word) > 100 or any(len(m) > 256 for m in names):
                raise ValueError(f"keyword {key!r}: a word (up to 100 characters) and at least one module name")
            cleaned[word] = list(dict.fromkeys(names))
        return cleaned

    @field_validator("feedback_auto_intake_seconds")
    @classmethod
    def _schedulable(cls, value: int) -> int:
        spans = ((1, 60), (60, 3600), (3600, 86400))  # (unit, the span it must divide): a cron step
        if value and not any(value % unit == 0 and whole % value == 0 for unit, whole in spans):
            raise ValueError("must be 0 or divide a minute, an hour (whole minutes) or a day (whole hours)")
        return value


class NotificationSettings(_Group):
    smtp_host: str | None = Field(None, description="SMTP server for notification e-mails; unset = they fail")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = Field(None, description="SMTP login; unset = no authentication")
    smtp_password: SecretStr | None = None
    smtp_from: str = Field("loopdesk@localhost", description="the From address of notification e-mails")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (upgrade, usually port 587), tls (implicit, usually 465) or none"
    )
    smtp_timeout_seconds: float = Field(10.0, gt=0, le=300)
    notification_max_attempts: int = Field(6, ge=1, le=50, description="sends of one delivery before it is failed")
    notification_backoff_seconds: float = Field(
        30.0, gt=0, le=3600, description="wait before the first retry; doubles per attempt (at most one hour)"
    )
    notification_sweep_seconds: int = Field(
        15, ge=1, le=30, description="how often due pending deliveries are sent (a divisor of 60)"
    )

    @field_validator("notification_sweep_seconds")
    @classmethod
    def _even_sweep(cls, value: int) -> int:
        if 60 % value:  # a cron step must divide the minute, else the gaps are uneven
            raise ValueError("must divide a minute (1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30)")
        return value


class SupportSettings(_Group):
    support_quiet_minutes: float = Field(
        30.0,
        gt=0,
        le=30 * 24 * 60,
        description="a support conversation nobody wrote in for this long is closed: resolved_assumed if the "
        "agent answered and nothing was left open, else abandoned (or escalated, if it was)",
    )
    support_agents_file: Path | None = Field(
        None,
        description="a YAML file of support agents (README: Support agents), checked at start and put in force; "
        "an admin reloads it with POST /api/v1/support/agents/reload",
    )
    support_demo: bool = Field(
        True,
        description="with the demo seed (embedded default): start the e-commerce demo backend on 127.0.0.1:8101 "
        "and apply its template",
    )


class RetentionSettings(_Group):
    """How long operational rows are kept (days; 0 = forever); an hourly sweep deletes older ones in batches."""

    retention_run_events_days: float = Field(
        14, ge=0, le=36500, description="the event log of a finished run (what its stream replays), after it ended"
    )
    retention_runs_days: float = Field(
        90, ge=0, le=36500, description="finished runs (success, error, timeout, interrupted) with their event log"
    )
    retention_notification_deliveries_days: float = Field(
        30, ge=0, le=36500, description="sent and failed notification deliveries, after they were created"
    )
    retention_log_records_days: float = Field(30, ge=0, le=36500, description="log store records, by their time")
    retention_queue_jobs_days: float = Field(
        30,
        ge=0,
        le=36500,
        description="finished queue jobs (failed, cancelled, aborted; a successful one goes when it ends), after "
        "their last event",
    )
    retention_archived_tasks_days: float = Field(
        0,
        ge=0,
        le=36500,
        description="archived feedback tasks, after archiving, with their timeline, reporters, attachments, "
        "deliveries and workflow thread (0: a task's record is kept for good)",
    )


class SettingsError(RuntimeError):
    """Start-up refused: the message says which setting to fix."""


class Settings(BaseModel):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    feedback_sla: FeedbackSlaSettings = Field(default_factory=FeedbackSlaSettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    support: SupportSettings = Field(default_factory=SupportSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    model_config = {"frozen": False}

    @model_validator(mode="after")
    def _feedback_model_is_named(self) -> Settings:
        name = self.feedback.feedback_analysis_model
        if name is not None and name not in self.llm.llm_models:
            raise ValueError(f"LOOPDESK_FEEDBACK_ANALYSIS_MODEL: {name!r} is not a model of LOOPDESK_LLM_MODELS")
        return self

    @classmethod
    def load(cls) -> Settings:
        try:
            settings = cls()
        except ValueError as exc:  # pydantic's message names the variable and the problem
            raise SettingsError(f"invalid configuration:\n{exc}") from exc
        settings.check_production()
        return settings

    @property
    def is_production(self) -> bool:
        return self.server.env == "production"

    @property
    def cookie_secure(self) -> bool:
        return self.is_production if self.auth.cookie_secure is None else self.auth.cookie_secure

    def check_production(self) -> None:
        if not self.is_production:
            return
        problems: list[str] = []
        secret = self.auth.jwt_secret.get_secret_value() if self.auth.jwt_secret else ""
        if secret.lower() in _WEAK_SECRETS or len(secret) < 32:
            problems.append("LOOPDESK_JWT_SECRET must be set to a random value of at least 32 characters")
        if self.auth.admin_password is not None:
            password = self.auth.admin_password.get_secret_value()
            if password.lower() in _WEAK_SECRETS or len(password) < 12:
                problems.append("LOOPDESK_ADMIN_PASSWORD is a default or shorter than 12 characters")
        if self.auth.cookie_secure is False:
            problems.append("LOOPDESK_COOKIE_SECURE=false is not allowed in production")
        if problems:
            raise SettingsError("refusing to start with LOOPDESK_ENV=production:\n- " + "\n- ".join(problems))

    @cached_property
    def jwt_key(self) -> str:
        """The signing key; in development a random key is generated once and kept in the data dir."""
        if self.auth.jwt_secret is not None and self.auth.jwt_secret.get_secret_value():
            return self.auth.jwt_secret.get_secret_value()
        if self.is_production:
            raise SettingsError("LOOPDESK_JWT_SECRET is required in production")
        path = self.database.data_dir / "jwt_secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:  # O_EXCL: two processes starting together agree on one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):
                if stored := path.read_text().strip():
                    return stored
                time.sleep(0.01)
            raise SettingsError(f"{path} is empty: delete it or set LOOPDESK_JWT_SECRET") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key

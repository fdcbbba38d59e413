"""What a caller may set per run, and what only an operator sets.

An assistant's configuration holds operator settings (the model and where it runs, the tools, the system prompt,
limits, the approval policy) that a customer must not change by passing a run `config` or `context`, or by making
an assistant of their own. A customer's run config and context, and a customer's assistants, may carry caller
settings only: the keys the graph declares (its `context_schema` or config schema, or the list given when the
graph was registered), never an operator key. Anything else is refused with 403 `config_not_allowed` naming the
key: a clear error, never silently dropped. Staff and admins keep full control, except that a model's base URL and
key variable exist only in operator configuration (named models, LOOPDESK_LLM_*), for everyone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopdesk.core.errors import Forbidden
from loopdesk.runtime.graphs import RegisteredGraph
from loopdesk.users.models import User

# Keys that choose the model, its endpoint and secrets, the tools, the prompt or the limits an operator set.
OPERATOR_SETTINGS = frozenset(
    {
        "model",
        "models",
        "provider",
        "base_url",
        "api_key",
        "api_key_env",
        "script",
        "tools",
        "system_prompt",
        "prompt",
        "max_tool_rounds",
        "approval_policy",
        "temperature",
        "max_tokens",
    }
)
# Set by the server for every run (a caller's values are replaced): harmless to send, so not refused.
RUN_IDENTITY = frozenset(
    {"thread_id", "run_id", "assistant_id", "graph_id", "user_id", "checkpoint_id", "checkpoint_ns", "checkpoint_map"}
)
# Top-level run config keys a caller may send; `recursion_limit` and the like are limits, an operator's.
CALLER_CONFIG_KEYS = frozenset({"configurable", "metadata", "tags", "run_name"})


class ConfigNotAllowed(Forbidden):
    code, message = "config_not_allowed", "This setting is chosen by the operator, not per run"


def check_caller_settings(
    caller: User,
    graph: RegisteredGraph,
    *,
    config: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    where: str = "",
) -> None:
    """Refuse, naming the first offending key, what `caller` may not set on a run or assistant of `graph`."""
    config = config or {}
    check_model_settings(config, context, where=where)
    if caller.is_staff:
        return
    allowed = graph.caller_settings()
    for key in config:
        if key not in CALLER_CONFIG_KEYS:
            _refuse(f"{where}config.{key}", allowed)
    sections = (("config.configurable", config.get("configurable") or {}), ("context", context or {}))
    for section, values in sections:
        if not isinstance(values, Mapping):
            continue  # the request schema reports the wrong type
        for key in values:
            if section == "config.configurable" and key in RUN_IDENTITY:
                continue
            if key in OPERATOR_SETTINGS or (allowed is not None and key not in allowed):
                _refuse(f"{where}{section}.{key}", allowed)


def check_model_settings(config: Mapping[str, Any], context: Mapping[str, Any] | None, *, where: str = "") -> None:
    """A model from an assistant or a run names what to call, never where or with which secret (anyone's)."""
    from loopdesk.llm.errors import LLMConfigError
    from loopdesk.llm.factory import check_config_spec

    configurable = config.get("configurable") or {}
    for section, values in (("config.configurable", configurable), ("context", context or {})):
        if isinstance(values, Mapping) and "model" in values:
            try:
                check_config_spec(values["model"])
            except LLMConfigError as exc:
                raise ConfigNotAllowed(str(exc), detail={"key": f"{where}{section}.model"}) from None


def _refuse(key: str, allowed: frozenset[str] | None) -> None:
    caller_keys = sorted(allowed - OPERATOR_SETTINGS) if allowed is not None else None
    raise ConfigNotAllowed(
        f"'{key}' is set by the operator, not by the caller",
        detail={"key": key, "caller_settings": caller_keys},
    )

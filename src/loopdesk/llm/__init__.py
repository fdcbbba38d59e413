"""Chat models for the agents: one factory for every provider, retries, usage and cost, and two local models
(scripted for tests and demos, offline as the default when no provider is configured)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopdesk.llm.errors import LLMConfigError, RetryingChatModel, classify, is_retryable, with_retries
    from loopdesk.llm.factory import build_chat_model, describe
    from loopdesk.llm.offline import OfflineChatModel
    from loopdesk.llm.scripted import ScriptedChatModel, ScriptMismatchError
    from loopdesk.llm.settings import LLMSettings
    from loopdesk.llm.usage import UsageRecord, UsageRecorder, UsageTotals, price

# Loaded on first use: `loopdesk.llm.settings` is imported with the other settings, without the SDKs.
_EXPORTS = {
    "LLMConfigError": "errors",
    "RetryingChatModel": "errors",
    "classify": "errors",
    "is_retryable": "errors",
    "with_retries": "errors",
    "build_chat_model": "factory",
    "describe": "factory",
    "OfflineChatModel": "offline",
    "ScriptedChatModel": "scripted",
    "ScriptMismatchError": "scripted",
    "LLMSettings": "settings",
    "UsageRecord": "usage",
    "UsageRecorder": "usage",
    "UsageTotals": "usage",
    "price": "usage",
}
__all__ = [
    "LLMConfigError",
    "LLMSettings",
    "OfflineChatModel",
    "RetryingChatModel",
    "ScriptMismatchError",
    "ScriptedChatModel",
    "UsageRecord",
    "UsageRecorder",
    "UsageTotals",
    "build_chat_model",
    "classify",
    "describe",
    "is_retryable",
    "price",
    "with_retries",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'loopdesk.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"loopdesk.llm.{_EXPORTS[name]}"), name)

"""Which chat model the agents use: `LOOPDESK_LLM_*` variables (unset provider = the offline model).
The group lives with the other settings groups; it is re-exported here for the llm package."""

from __future__ import annotations

from loopdesk.core.settings import DEFAULT_PRICES, PROVIDERS, LLMSettings, Provider

__all__ = ["DEFAULT_PRICES", "PROVIDERS", "LLMSettings", "Provider"]

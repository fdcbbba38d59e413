"""ChatAnthropic whose SDK clients use the SSRF-safe transport: the integration builds its own httpx clients
and takes none from outside, so the two client properties are where the transport goes in."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import anthropic
from langchain_anthropic import ChatAnthropic
from pydantic import Field

from loopdesk.tools.net import OutboundPolicy, safe_sdk_clients


class SafeChatAnthropic(ChatAnthropic):
    outbound_policy: OutboundPolicy = Field(default_factory=OutboundPolicy, exclude=True)

    @cached_property
    def _clients(self) -> tuple[Any, Any]:
        return safe_sdk_clients(self.outbound_policy, timeout=self.default_request_timeout or 600.0)

    @cached_property
    def _client(self) -> anthropic.Client:
        return anthropic.Client(**self._client_params, http_client=self._clients[0])

    @cached_property
    def _async_client(self) -> anthropic.AsyncClient:
        return anthropic.AsyncClient(**self._client_params, http_client=self._clients[1])

"""Request and response bodies of /api/v1/support."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AgentRead(BaseModel):
    name: str
    description: str
    permission: Literal["read", "write"]
    intents: list[str]
    tools: list[str] = Field(description="the selectors as declared")
    bound_tools: list[str] = Field(description="the tools the agent is given now (read agents: read tools only)")
    model: str | None
    limits: dict[str, dict[str, dict[str, float | None]]]


class AgentSetRead(BaseModel):
    id: int | None = Field(description="the stored version; null: the built-in set")
    source: str
    created_at: datetime | None
    document: str
    intents_model: str | None
    supervisor_model: str | None
    escalate_intents: list[str]
    agents: list[AgentRead]


class AgentSetWrite(BaseModel):
    document: str = Field(min_length=1, max_length=200_000, description="the agents YAML")


class EscalationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    thread_id: uuid.UUID
    user_id: uuid.UUID | None
    reason: str
    kind: str
    status: Literal["open", "taken", "closed"]
    assigned_to: uuid.UUID | None
    task_id: uuid.UUID | None
    created_at: datetime
    taken_at: datetime | None
    closed_at: datetime | None


class EscalateIn(BaseModel):
    reason: str = Field("the customer asked for a person", min_length=1, max_length=2000)


class ReleaseIn(BaseModel):
    close: bool = Field(False, description="true: the conversation is done; false: the agents answer again")


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class ReplyRead(BaseModel):
    event_id: int
    run_id: uuid.UUID


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str | None = Field(description="what agents and assistants call it by; null: the default model")
    provider: str
    model: str | None
    endpoint: str | None = Field(
        description="`scheme://host[:port]` it is called at (no path, user or query); null: the provider's own"
    )
    api_key_configured: bool | None = Field(description="whether a key is set (never the key); null: none is used")
    problem: str | None = Field(None, description="why this configuration cannot work as it stands")


class ModelsRead(BaseModel):
    default: ModelRead = Field(description="LOOPDESK_LLM_PROVIDER / LOOPDESK_LLM_MODEL: agents naming no model")
    named: list[ModelRead] = Field(description="LOOPDESK_LLM_MODELS (and its file), by name")

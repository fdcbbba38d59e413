"""Every mapped table, imported in one place so Alembic sees the whole metadata."""

from loopdesk.audit.models import AuditEvent
from loopdesk.auth.models import ApiKey, RevokedToken
from loopdesk.core.db import Base
from loopdesk.feedback.models import RoutingRule, Task, TaskAttachment, TaskEvent, TaskReporter, Team, TeamMember
from loopdesk.llm.models import LLMUsage
from loopdesk.notifications.models import NotificationChannel, NotificationDelivery
from loopdesk.runtime.assistants.models import Assistant, AssistantVersion
from loopdesk.runtime.crons.models import Cron
from loopdesk.runtime.runs.models import Run, RunEvent
from loopdesk.runtime.threads.models import Thread, ThreadMessage
from loopdesk.sessions.models import UserSession
from loopdesk.support.conversations.models import AgentSet, Conversation, Escalation, SupportEvent
from loopdesk.tools.models import Approval, OpenAPIImport, ToolCall, ToolPolicy, ToolSourceRow
from loopdesk.triage.dedup import models as _dedup_models  # noqa: F401 - tables of the dedup component
from loopdesk.triage.store import models as _store_models  # noqa: F401 - tables of the log store
from loopdesk.users.models import User

__all__ = [
    "AgentSet",
    "ApiKey",
    "Approval",
    "AuditEvent",
    "LLMUsage",
    "OpenAPIImport",
    "NotificationChannel",
    "NotificationDelivery",
    "RoutingRule",
    "Task",
    "TaskAttachment",
    "TaskEvent",
    "TaskReporter",
    "Team",
    "TeamMember",
    "ToolCall",
    "ToolPolicy",
    "ToolSourceRow",
    "Assistant",
    "AssistantVersion",
    "Base",
    "Conversation",
    "Cron",
    "Escalation",
    "RevokedToken",
    "Run",
    "RunEvent",
    "SupportEvent",
    "Thread",
    "ThreadMessage",
    "UserSession",
    "User",
]

"""The default model when no provider is configured: no network, it maps a request onto a bound tool.

It chooses the tool whose name and description best match the message (concepts, idf-weighted), fills the
arguments from the message by each property's JSON schema, asks for missing required ones (carried in
`additional_kwargs["offline_pending"]`), and answers from tool results. Stateless: all from the messages.

Modules: `words` (the vocabulary, tokens and value shapes), `profile` (a tool's profile from its JSON schema),
`choose` (scoring the tools), `values` and `extract` (filling arguments), `answer` (replies without a tool call)
and `model` (`OfflineChatModel` and its pending questions).
"""

from loopdesk.llm.offline.answer import PREFIX
from loopdesk.llm.offline.model import PENDING_KEY, OfflineChatModel

__all__ = ["PENDING_KEY", "PREFIX", "OfflineChatModel"]

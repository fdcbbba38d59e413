"""The offline intent classifier: what a customer's message asks for (one intent, several, an ambiguous one, or
none in scope) without an LLM. `loopdesk intents train | classify` is its command line."""

from loopdesk.support.intents.model import AMBIGUOUS, OUT_OF_SCOPE, IntentModel, IntentModelError, IntentPrediction
from loopdesk.support.intents.reading import MessageReading, read_message

__all__ = [
    "AMBIGUOUS",
    "OUT_OF_SCOPE",
    "IntentModel",
    "IntentModelError",
    "IntentPrediction",
    "MessageReading",
    "read_message",
]

"""Model-call metrics: every chat model the factory builds carries one `LLMCallMetrics` handler, so calls are
counted whoever makes them (the agents, the support supervisor, feedback analysis) and whatever callbacks the
caller passes. Counted in the process that calls the model: the queue worker for runs."""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import LLMResult

from loopdesk.core.metrics import LLM_CALLS, LLM_ERRORS, LLM_LATENCY
from loopdesk.llm.errors import classify

Model = TypeVar("Model", bound=BaseChatModel)


class LLMCallMetrics(BaseCallbackHandler):
    """Calls, answer latency and errors of one provider's model. `provider` is the factory's provider name, a
    short fixed list: a bounded label."""

    run_inline = True  # a perf_counter read, not worth an executor hop
    raise_error = False

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._started: dict[UUID, float] = {}
        self._lock = threading.Lock()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._started[run_id] = time.perf_counter()

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._started[run_id] = time.perf_counter()

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            started = self._started.pop(run_id, None)
        LLM_CALLS.labels(self.provider).inc()
        if started is not None:
            LLM_LATENCY.labels(self.provider).observe(time.perf_counter() - started)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._started.pop(run_id, None)
        LLM_CALLS.labels(self.provider).inc()
        if isinstance(error, Exception):  # a cancelled call (the run was cancelled) is not the provider's error
            LLM_ERRORS.labels(self.provider, classify(error)).inc()


def observed(model: Model, provider: str) -> Model:
    """`model` with a metrics handler of its own, kept through bind_tools and with_config."""
    handler = LLMCallMetrics(provider)
    if isinstance(model.callbacks, BaseCallbackManager):
        model.callbacks.add_handler(handler, inherit=False)
    else:
        model.callbacks = [*(model.callbacks or []), handler]
    return model

"""Circuit breakers for what loopdesk calls over the network: a model (`llm`, a named model or provider:model) and an
imported API (`openapi`, by import name).

After `failures` consecutive failures (a 5xx, a timeout, a lost connection; never a 4xx, which shows the server
answering) a circuit opens: calls fail at once with `CircuitOpen` for `reset_seconds`. The first call after that is
the one probe (half-open; calls meanwhile still fail at once): its success closes the circuit, its failure opens it
for another `reset_seconds`. Only the probe decides while the circuit is not closed: calls admitted before it opened
and finishing late change nothing.

State lives in the process (each API process and each queue worker has its own breakers), in `process_breakers()`:
circuits must outlive a model object (the factory builds one per run) and a tool source (rebuilt when its import
changes). Exported as `loopdesk_circuit_state` / `loopdesk_circuit_transitions_total`; transitions are logged.

Our own, not a library's: the async-capable ones on PyPI let every concurrent call through while half-open
(pybreaker, purgatory, circuitbreaker, aiobreaker); pybreaker awaits only through tornado and holds a threading
lock across the guarded call, and circuitbreaker has no transition hooks for the metrics."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import structlog

from loopdesk.core.metrics import CIRCUIT_STATE, CIRCUIT_TRANSITIONS
from loopdesk.core.settings import BreakerSettings

log = structlog.get_logger("loopdesk.breaker")

State = Literal["closed", "half_open", "open"]
# What one call says about the far side: `ignore` for what says nothing (a cancelled call, our own refusal).
Outcome = Literal["success", "failure", "ignore"]
Judge = Callable[[Exception], Outcome]

STATE_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}
MAX_TARGETS = 256  # a caller may name models at will: past this, new targets go unguarded rather than unbounded
_NOUNS = {"llm": "model", "openapi": "imported API"}


class CircuitOpen(Exception):
    """The call was not made: its target's circuit is open (or half-open with its probe under way)."""

    def __init__(self, kind: str, target: str, failures: int, retry_in: float) -> None:
        self.kind, self.target, self.failures, self.retry_in = kind, target, failures, max(0.0, retry_in)
        when = (
            f"a probe call may try again in {math.ceil(self.retry_in)} s"
            if self.retry_in > 0
            else "a probe call is checking whether it is back"
        )
        super().__init__(
            f"{_NOUNS.get(kind, kind)} {target!r} is unavailable: {failures} consecutive failures (server errors, "
            f"timeouts or lost connections) opened its circuit breaker; {when}"
        )


class Attempt:
    """One admitted call. `fail()` marks a failure that raised nothing (an HTTP 5xx answer)."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def fail(self) -> None:
        self.failed = True


class CircuitBreaker:
    """The circuit of one target. Thread-safe (sync model calls run in threads); the lock is never held across a
    call, only while the state changes."""

    def __init__(
        self,
        kind: str,
        target: str,
        *,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("a circuit breaker needs failures >= 1 and reset_seconds > 0")
        self.kind, self.target = kind, target
        self.failures, self.reset_seconds = failures, reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._streak = 0  # consecutive failures while closed
        self._opened_at = 0.0
        self._probing = False
        CIRCUIT_STATE.labels(kind, target).set(0)

    @property
    def state(self) -> State:
        """As of the last call: an open circuit turns half-open when a call arrives after the reset time."""
        return self._state

    @contextmanager
    def guard(self, judge: Judge) -> Iterator[Attempt]:
        """Admit one call (or raise CircuitOpen before it is made) and record how it ended: an exception as `judge`
        classifies it, a cancellation as nothing, else a success unless the block called `fail()`."""
        probe = self._admit()
        attempt = Attempt()
        outcome: Outcome = "ignore"
        try:
            yield attempt
        except Exception as exc:
            outcome = judge(exc)
            raise
        else:
            outcome = "failure" if attempt.failed else "success"
        finally:
            self._settle(outcome, probe)

    def _admit(self) -> bool:
        """True when this call is the probe."""
        with self._lock:
            if self._state == "closed":
                return False
            now = self._clock()
            if self._state == "open" and now - self._opened_at >= self.reset_seconds:
                self._move("half_open")
            if self._state == "half_open" and not self._probing:
                self._probing = True
                return True
            retry_in = 0.0 if self._state == "half_open" else self._opened_at + self.reset_seconds - now
            raise CircuitOpen(self.kind, self.target, self.failures, retry_in)

    def _settle(self, outcome: Outcome, probe: bool) -> None:
        with self._lock:
            if probe:
                self._probing = False
                if outcome == "success":
                    self._streak = 0
                    self._move("closed")
                elif outcome == "failure":
                    self._open()
                return  # an ignored probe leaves the circuit half-open: the next call probes
            if self._state != "closed" or outcome == "ignore":
                return
            if outcome == "success":
                self._streak = 0
                return
            self._streak += 1
            if self._streak >= self.failures:
                self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._streak = 0
        self._move("open")

    def _move(self, to: State) -> None:
        was, self._state = self._state, to
        CIRCUIT_STATE.labels(self.kind, self.target).set(STATE_VALUES[to])
        CIRCUIT_TRANSITIONS.labels(self.kind, self.target, to).inc()
        event = {"open": "breaker.opened", "half_open": "breaker.half_opened", "closed": "breaker.closed"}[to]
        (log.warning if to == "open" else log.info)(
            event,
            kind=self.kind,
            target=self.target,
            previous=was,
            failures=self.failures,
            reset_seconds=self.reset_seconds,
        )


@contextmanager
def guarded(breaker: CircuitBreaker | None, judge: Judge) -> Iterator[Attempt]:
    """`breaker.guard(judge)`, or an unguarded attempt when there is no breaker (turned off, or past MAX_TARGETS)."""
    if breaker is None:
        yield Attempt()
        return
    with breaker.guard(judge) as attempt:
        yield attempt


class Breakers:
    """The circuits of one process, one per (kind, target), made on first use with the same thresholds."""

    def __init__(
        self,
        failures: int = 5,
        reset_seconds: float = 30.0,
        *,
        max_targets: int = MAX_TARGETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures, self.reset_seconds, self.max_targets = failures, reset_seconds, max_targets
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[tuple[str, str], CircuitBreaker] = {}
        self._full_warned = False

    @classmethod
    def from_settings(cls, settings: BreakerSettings) -> Breakers:
        return cls(settings.breaker_failures, settings.breaker_reset_seconds)

    def get(self, kind: str, target: str) -> CircuitBreaker | None:
        """The target's circuit; None when breakers are off (failures 0) or MAX_TARGETS circuits exist already."""
        if self.failures < 1:
            return None
        with self._lock:
            circuit = self._circuits.get((kind, target))
            if circuit is not None:
                return circuit
            if len(self._circuits) >= self.max_targets:
                if not self._full_warned:
                    self._full_warned = True
                    log.warning("breaker.targets_full", max_targets=self.max_targets, kind=kind)
                return None
            circuit = CircuitBreaker(
                kind, target, failures=self.failures, reset_seconds=self.reset_seconds, clock=self._clock
            )
            self._circuits[(kind, target)] = circuit
            return circuit


_process: Breakers | None = None
_process_lock = threading.Lock()


def process_breakers() -> Breakers:
    """This process's circuits, configured from LOOPDESK_BREAKER_* on first use (or as `install_breakers` set)."""
    global _process
    with _process_lock:
        if _process is None:
            _process = Breakers.from_settings(BreakerSettings())
        return _process


def install_breakers(breakers: Breakers | None) -> Breakers | None:
    """Replace this process's circuits (None: read the settings again on next use); returns the previous ones."""
    global _process
    with _process_lock:
        previous, _process = _process, breakers
        return previous

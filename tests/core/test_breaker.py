"""The circuit breaker's state machine (a clock the test moves), its one probe under real concurrency, its metrics,
logs and settings."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest
from prometheus_client import REGISTRY

from loopdesk.core.breaker import (
    Breakers,
    CircuitBreaker,
    CircuitOpen,
    Outcome,
    guarded,
    install_breakers,
    process_breakers,
)
from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import BreakerSettings, LoggingSettings, Settings, SettingsError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ServerError(Exception):
    pass


class ClientError(Exception):
    pass


def judge(exc: Exception) -> Outcome:
    if isinstance(exc, ServerError):
        return "failure"
    if isinstance(exc, ClientError):
        return "success"
    return "ignore"


def target() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"  # a series of its own in the process-wide metrics


def make(failures: int = 3, reset: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("llm", target(), failures=failures, reset_seconds=reset, clock=clock), clock


def call(breaker: CircuitBreaker, error: Exception | None = None, *, fail_quietly: bool = False) -> None:
    with breaker.guard(judge) as attempt:
        if fail_quietly:
            attempt.fail()
        if error is not None:
            raise error


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ServerError):
            call(breaker, ServerError())


def state_value(breaker: CircuitBreaker) -> float | None:
    return REGISTRY.get_sample_value("loopdesk_circuit_state", {"kind": breaker.kind, "target": breaker.target})


def transitions(breaker: CircuitBreaker, to: str) -> float:
    labels = {"kind": breaker.kind, "target": breaker.target, "to": to}
    return REGISTRY.get_sample_value("loopdesk_circuit_transitions_total", labels) or 0.0


class TestStates:
    def test_n_consecutive_failures_open_the_circuit_and_calls_then_fail_without_running(self):
        breaker, _ = make(failures=3)
        fail(breaker, 2)
        assert breaker.state == "closed"
        fail(breaker)
        assert breaker.state == "open"
        ran = []
        with pytest.raises(CircuitOpen) as refused:
            with breaker.guard(judge):
                ran.append(True)
        assert ran == []
        assert refused.value.failures == 3 and refused.value.retry_in == pytest.approx(10.0)
        assert f"model {breaker.target!r} is unavailable" in str(refused.value)
        assert "may try again in 10 s" in str(refused.value)

    def test_a_success_between_failures_resets_the_count(self):
        breaker, _ = make(failures=3)
        fail(breaker, 2)
        call(breaker)
        fail(breaker, 2)
        assert breaker.state == "closed"
        fail(breaker)
        assert breaker.state == "open"

    def test_client_errors_are_answers_and_ignored_errors_change_nothing(self):
        breaker, _ = make(failures=2)
        for _ in range(5):
            with pytest.raises(ClientError):
                call(breaker, ClientError())
        assert breaker.state == "closed"
        fail(breaker)
        with pytest.raises(KeyError):  # judged "ignore": neither a second failure nor a reset
            call(breaker, KeyError("x"))
        fail(breaker)
        assert breaker.state == "open"

    def test_a_failure_that_raised_nothing_counts(self):
        breaker, _ = make(failures=2)
        call(breaker, fail_quietly=True)
        call(breaker, fail_quietly=True)
        assert breaker.state == "open"

    def test_after_the_reset_time_one_probe_goes_through_and_its_success_closes(self):
        breaker, clock = make(failures=1, reset=10.0)
        fail(breaker)
        clock.now += 9.9
        with pytest.raises(CircuitOpen):
            call(breaker)
        clock.now += 0.1
        with breaker.guard(judge):
            assert breaker.state == "half_open"
            with pytest.raises(CircuitOpen) as meanwhile:  # a second caller while the probe is out
                call(breaker)
            assert "a probe call is checking" in str(meanwhile.value)
        assert breaker.state == "closed"
        fail(breaker)  # closed again: counting from zero
        assert breaker.state == "open"

    def test_a_failed_probe_opens_the_circuit_for_another_reset_time(self):
        breaker, clock = make(failures=2, reset=10.0)
        fail(breaker, 2)
        clock.now += 10
        fail(breaker)  # the probe
        assert breaker.state == "open"
        clock.now += 9
        with pytest.raises(CircuitOpen) as refused:
            call(breaker)
        assert refused.value.retry_in == pytest.approx(1.0)

    def test_a_cancelled_probe_frees_the_slot_for_the_next_call(self):
        breaker, clock = make(failures=1)
        fail(breaker)
        clock.now += 10
        with pytest.raises(asyncio.CancelledError):
            call(breaker, asyncio.CancelledError())  # a BaseException: says nothing about the far side
        assert breaker.state == "half_open"
        call(breaker)
        assert breaker.state == "closed"

    def test_calls_admitted_before_the_circuit_opened_do_not_close_it(self):
        breaker, _ = make(failures=1)
        with breaker.guard(judge):  # a slow call, started while closed
            fail(breaker)
            assert breaker.state == "open"
        assert breaker.state == "open"

    async def test_only_one_of_many_concurrent_callers_probes(self):
        breaker, clock = make(failures=1)
        fail(breaker)
        clock.now += 10
        reached = 0
        release = asyncio.Event()

        async def one() -> str:
            nonlocal reached
            try:
                with breaker.guard(judge):
                    reached += 1
                    await release.wait()
            except CircuitOpen:
                return "refused"
            return "probed"

        calls = [asyncio.create_task(one()) for _ in range(5)]
        await asyncio.sleep(0)
        release.set()
        assert sorted(await asyncio.gather(*calls)) == ["probed"] + ["refused"] * 4
        assert reached == 1 and breaker.state == "closed"


class TestObservability:
    def test_the_state_gauge_and_transition_counters_follow_the_circuit(self):
        breaker, clock = make(failures=1)
        assert state_value(breaker) == 0
        fail(breaker)
        assert state_value(breaker) == 2 and transitions(breaker, "open") == 1
        clock.now += 10
        with breaker.guard(judge):
            assert state_value(breaker) == 1 and transitions(breaker, "half_open") == 1
        assert state_value(breaker) == 0 and transitions(breaker, "closed") == 1

    def test_transitions_are_logged_with_kind_and_target(self):
        stream = io.StringIO()
        configure_logging(LoggingSettings(log_format="json", log_level="INFO", _env_file=None), stream=stream)
        try:
            breaker, clock = make(failures=1)
            fail(breaker)
            clock.now += 10
            call(breaker)
        finally:
            configure_logging(LoggingSettings(log_level="WARNING", _env_file=None))
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if breaker.target in line]
        assert [(line["event"], line["level"]) for line in lines] == [
            ("breaker.opened", "warning"),
            ("breaker.half_opened", "info"),
            ("breaker.closed", "info"),
        ]
        assert lines[0]["kind"] == "llm" and lines[0]["failures"] == 1 and lines[0]["previous"] == "closed"


class TestBreakers:
    def test_one_circuit_per_kind_and_target(self):
        breakers = Breakers(2, 5.0)
        name = target()
        assert breakers.get("llm", name) is breakers.get("llm", name)
        assert breakers.get("openapi", name) is not breakers.get("llm", name)
        assert breakers.get("llm", name).failures == 2 and breakers.get("llm", name).reset_seconds == 5.0

    def test_zero_failures_turns_the_breakers_off(self):
        breakers = Breakers(0, 5.0)
        assert breakers.get("llm", target()) is None
        with guarded(None, judge) as attempt:  # the call sites' unguarded path
            attempt.fail()

    def test_targets_past_the_cap_go_unguarded_instead_of_growing_the_metrics(self):
        breakers = Breakers(1, 5.0, max_targets=2)
        assert breakers.get("llm", target()) and breakers.get("llm", target())
        assert breakers.get("llm", target()) is None

    def test_the_process_breakers_read_the_settings(self, monkeypatch):
        monkeypatch.setenv("LOOPDESK_BREAKER_FAILURES", "7")
        monkeypatch.setenv("LOOPDESK_BREAKER_RESET_SECONDS", "2.5")
        previous = install_breakers(None)
        try:
            breakers = process_breakers()
            assert (breakers.failures, breakers.reset_seconds) == (7, 2.5)
            assert process_breakers() is breakers
        finally:
            install_breakers(previous)

    def test_defaults_and_bad_values_are_refused_at_start(self, monkeypatch):
        defaults = BreakerSettings(_env_file=None)
        assert (defaults.breaker_failures, defaults.breaker_reset_seconds) == (5, 30.0)
        monkeypatch.setenv("LOOPDESK_BREAKER_RESET_SECONDS", "0")
        with pytest.raises(SettingsError, match="breaker_reset_seconds"):
            Settings.load()

"""Reading a turn with a named model's structured output (the scripted model stands in for a hosted LLM): requests
in order, unknown intents never become actions, and an answer out of schema asks rather than guesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopdesk.core.settings import Settings
from loopdesk.support.agents import parse_agents
from loopdesk.support.reading import read_turn

AGENTS = """\
supervisor:
  model: reader
  escalate_intents: [human_agent]
agents:
  - name: orders
    description: Looks orders up.
    intents: [order_status]
  - name: order_changes
    description: Cancels orders.
    intents: [cancel_order]
    permission: write
"""


def _reading_with(tmp_path: Path, decision: dict) -> tuple:
    script = tmp_path / "reader.yaml"
    script.write_text(json.dumps({"turns": [{"tool_calls": [{"name": "IntentDecision", "args": decision}]}]}))
    settings = Settings(_env_file=None)
    settings.llm.llm_models = {"reader": {"provider": "scripted", "model": str(script)}}
    agents = parse_agents(AGENTS, "test", named_models=settings.llm.llm_models.keys())
    return agents, settings


async def test_two_requests_are_read_in_the_order_asked(tmp_path):
    decision = {"kind": "multi", "requests": [
        {"intent": "order_status", "text": "where is A1001"}, {"intent": "cancel_order", "text": "cancel A1002"},
    ]}  # fmt: skip
    agents, settings = _reading_with(tmp_path, decision)
    reading = await read_turn(agents, "Where is A1001? And cancel A1002", settings, {})
    assert reading.source == "llm" and reading.kind == "multi"
    assert [(s.agent, s.request) for s in reading.steps] == [
        ("orders", "where is A1001"),
        ("order_changes", "cancel A1002"),
    ]


async def test_a_request_for_a_person_goes_to_people(tmp_path):
    agents, settings = _reading_with(
        tmp_path, {"kind": "single", "requests": [{"intent": "human_agent", "text": "a human"}]}
    )
    [step] = (await read_turn(agents, "I want a human", settings, {})).steps
    assert step.intent == "human_agent" and step.agent is None


@pytest.mark.parametrize(
    ("decision", "kind"),
    [
        ({"kind": "single", "requests": [{"intent": "wire_money", "text": "send 500"}]}, "oos"),  # not a listed intent
        ({"kind": "oos", "requests": []}, "oos"),
        ({"kind": "ambiguous", "requests": []}, "ambiguous"),
        ({"kind": "whatever"}, "ambiguous"),  # out of schema: one question, never a guessed action
    ],
)
async def test_what_the_desk_cannot_act_on_is_never_an_action(tmp_path, decision, kind):
    agents, settings = _reading_with(tmp_path, decision)
    reading = await read_turn(agents, "hmm", settings, {})
    assert reading.kind == kind and reading.steps == []

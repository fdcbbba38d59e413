"""ScriptedChatModel: loading, stateless turn selection, expectations, streaming and usage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from loopdesk.llm import LLMConfigError, ScriptedChatModel, ScriptMismatchError
from loopdesk.llm.scripted import CLOSING

SCRIPT = """
turns:
  - expect: "(?i)order"
    content: Let me check.
    tool_calls:
      - {name: get_order, args: {order_id: ORD-1}}
  - content: Your order ORD-1 has shipped.
  - expect: "(?i)thanks"
    content: You are welcome!
"""


@tool
def get_order(order_id: str) -> dict:
    """Look up an order by its id."""
    return {"order_id": order_id, "status": "shipped"}


def _conversation(model) -> list:
    first = model.invoke([HumanMessage("where is my order?")])
    result = ToolMessage('{"status": "shipped"}', tool_call_id=first.tool_calls[0]["id"])
    return [HumanMessage("where is my order?"), first, result]


@pytest.mark.parametrize("form", ["file", "path", "text", "list", "dict"])
def test_a_script_loads_from_a_file_text_or_python(tmp_path: Path, form):
    path = tmp_path / "script.yaml"
    path.write_text(SCRIPT)
    turns = [{"content": "Let me check.", "tool_calls": [{"name": "get_order", "args": {"order_id": "ORD-1"}}]}]
    script = {"file": str(path), "path": path, "text": SCRIPT, "list": turns, "dict": {"turns": turns}}[form]
    model = ScriptedChatModel.load(script)
    reply = model.invoke("where is my order?")
    assert reply.content == "Let me check."
    assert reply.tool_calls == [
        {"name": "get_order", "args": {"order_id": "ORD-1"}, "id": "call_scripted_0_0", "type": "tool_call"}
    ]
    assert model.source == (str(path) if form in ("file", "path") else "inline")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "a model script is"),
        ("hello", "a model script is"),
        ("turns: [", "not valid YAML"),
        ([{"content": ""}], "needs `content` or `tool_calls`"),
        ([{"content": "x", "mood": "happy"}], "mood"),
        ([{"tool_calls": [{"args": {}}]}], "name"),
        ([{"content": "x", "expect": "(unclosed"}], "expect"),
        ("/no/such/file.yaml", "cannot read the model script"),
    ],
)
def test_invalid_scripts_are_configuration_errors(script, message):
    with pytest.raises(LLMConfigError, match=re.escape(message)):
        ScriptedChatModel.load(script)


def test_the_turn_is_the_number_of_ai_messages_so_any_instance_continues_the_thread():
    history = _conversation(ScriptedChatModel.load(SCRIPT).bind_tools([get_order]))
    fresh = ScriptedChatModel.load(SCRIPT)  # e.g. another worker process resuming the thread
    second = fresh.invoke(history)
    assert second.content == "Your order ORD-1 has shipped." and second.tool_calls == []
    third = fresh.invoke([*history, second, HumanMessage("thanks!")])
    assert third.content == "You are welcome!"
    past_end = fresh.invoke([*history, second, HumanMessage("thanks!"), third, HumanMessage("bye")])
    assert past_end.content == CLOSING and "no more turns" in CLOSING
    assert (
        ScriptedChatModel.load({"turns": [{"content": "x"}], "closing": "Fin."})
        .invoke([HumanMessage("a"), AIMessage("x"), HumanMessage("b")])
        .content
        == "Fin."
    )


def test_expectations_fail_loudly():
    model = ScriptedChatModel.load(SCRIPT)
    with pytest.raises(ScriptMismatchError, match=r"script turn 1 expects a user message matching '\(\?i\)order'"):
        model.invoke("what's the weather?")
    history = _conversation(model)
    with pytest.raises(ScriptMismatchError, match="got 'bye'"):
        model.invoke([*history, AIMessage("Your order ORD-1 has shipped."), HumanMessage("bye")])


def test_calling_a_tool_that_is_not_bound_is_a_mismatch():
    @tool
    def search_docs(query: str) -> str:
        """Search the documentation."""
        return query

    with pytest.raises(ScriptMismatchError, match=r"calls 'get_order', but the bound tools are \['search_docs'\]"):
        ScriptedChatModel.load(SCRIPT).bind_tools([search_docs]).invoke("my order?")
    assert ScriptedChatModel.load(SCRIPT).bind_tools([get_order]).invoke("my order?").tool_calls


def test_streaming_yields_words_then_the_tool_call_and_matches_invoke():
    model = ScriptedChatModel.load(SCRIPT).bind_tools([get_order])
    chunks = list(model.stream("where is my order?"))
    assert [c.content for c in chunks if c.content] == ["Let ", "me ", "check."]
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert len(with_calls) == 1 and with_calls[0].tool_call_chunks[0]["name"] == "get_order"
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    invoked = model.invoke("where is my order?")
    assert merged.content == invoked.content
    assert merged.tool_calls == invoked.tool_calls  # ids are deterministic too
    assert merged.usage_metadata == invoked.usage_metadata
    assert merged.response_metadata["model_name"] == invoked.response_metadata["model_name"] == "scripted"


def test_usage_counts_words():
    reply = ScriptedChatModel.load([{"content": "three short words"}]).invoke("four words in here")
    assert reply.usage_metadata == {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}
    chinese = ScriptedChatModel.load([{"content": "好的"}]).invoke("查询订单")
    assert chinese.usage_metadata == {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}

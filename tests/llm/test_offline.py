"""OfflineChatModel: picks the tool a request means and fills its arguments from the message, asks for what is
missing and completes it next turn, answers from tool results, and says honestly what it is otherwise."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool, tool
from pydantic import BaseModel, Field

from loopdesk.llm import OfflineChatModel
from loopdesk.llm.offline import PENDING_KEY, PREFIX

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CNY"]


@tool
def get_order(order_id: str) -> dict:
    """Look up an order's status, items and shipping by its id."""
    return {"order_id": order_id, "status": "shipped"}


class RefundArgs(BaseModel):
    order_id: str = Field(description="The order id, e.g. ORD-1234")
    amount: float = Field(description="Amount to refund, in the order's currency")
    reason: str = Field(description="Why the refund is issued")


class CancelArgs(BaseModel):
    email: str = Field(description="The customer's email address")
    reason: Literal["too_expensive", "not_using", "missing_features", "switching_provider", "other"]


class SearchArgs(BaseModel):
    query: str = Field(description="What to look for")
    limit: int = Field(5, description="How many articles to return")


class TicketArgs(BaseModel):
    title: str = Field(description="Short summary of the problem")
    priority: Literal["low", "medium", "high"]
    email: str = Field(description="Who to contact about it")


class WeatherArgs(BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"] | None = None


def _structured(name: str, description: str, schema: type[BaseModel]) -> StructuredTool:
    return StructuredTool.from_function(lambda **kwargs: kwargs, name=name, description=description, args_schema=schema)


def _function(name: str, description: str, properties: dict, required: list[str]) -> dict:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


TOOLS = [
    get_order,
    _structured(
        "refund_order", "Refund all or part of an order to the customer's original payment method.", RefundArgs
    ),
    _structured("cancel_subscription", "Cancel a customer's subscription plan.", CancelArgs),
    _structured("search_docs", "Search the help center documentation for articles.", SearchArgs),
    _structured("create_ticket", "Open a support ticket for an issue that needs a human.", TicketArgs),
    _structured("get_weather", "Get the current weather for a city.", WeatherArgs),
    _function(
        "convert_currency",
        "Convert an amount of money from one currency to another.",
        {
            "amount": {"type": "number", "description": "How much money"},
            "from": {"type": "string", "enum": CURRENCIES},
            "to": {"type": "string", "enum": CURRENCIES},
        },
        ["amount", "from", "to"],
    ),
    {  # a bare function schema, as some clients send them
        "name": "lookup_user",
        "description": "Look up a user account by its id.",
        "parameters": {
            "type": "object",
            "properties": {"user_id": {"type": "string", "format": "uuid"}},
            "required": ["user_id"],
        },
    },
    _function(
        "update_notifications",
        "Turn email notifications on or off for a customer.",
        {"email": {"type": "string", "format": "email"}, "enabled": {"type": "boolean"}},
        ["email", "enabled"],
    ),
    _function(
        "list_orders",
        "List a customer's recent orders.",
        {
            "customer_email": {"type": "string", "format": "email"},
            "limit": {"type": "integer", "description": "Maximum number of orders"},
        },
        ["customer_email"],
    ),
    _function(
        "get_sales_report",
        "Sales report between two dates.",
        {"start_date": {"type": "string", "format": "date"}, "end_date": {"type": "string", "format": "date"}},
        ["start_date", "end_date"],
    ),
    _function(
        "check_website",
        "Check whether a website is up and responding.",
        {"url": {"type": "string", "format": "uri"}},
        ["url"],
    ),
    _function(
        "get_invoice",
        "Fetch an invoice by its number.",
        {"invoice_id": {"type": "string", "pattern": r"^INV-\d{4}$"}},
        ["invoice_id"],
    ),
    _function(
        "get_ticket",
        "Show a support ticket and its replies.",
        {"ticket_id": {"type": "integer"}},
        ["ticket_id"],
    ),
]
UUID = "3f2b8c1e-9a7d-4e5f-8b6a-1c2d3e4f5a6b"

# (request, tool, arguments): every row checks the tool AND the exact arguments.
CALLS = [
    ("Where is my order ORD-1234?", "get_order", {"order_id": "ORD-1234"}),
    ("Can you check the status of order #5521?", "get_order", {"order_id": "5521"}),
    ("track order 42 please", "get_order", {"order_id": "42"}),
    ("My order ORD-9 hasn't arrived, what's the status?", "get_order", {"order_id": "ORD-9"}),
    ("订单 ORD-5678 到哪了", "get_order", {"order_id": "ORD-5678"}),
    (
        "I want a refund of $25.50 for order ORD-7781 because the item arrived damaged",
        "refund_order",
        {"order_id": "ORD-7781", "amount": 25.5, "reason": "the item arrived damaged"},
    ),
    (
        "Refund ORD-1001 in full: 89.99, reason: wrong size",
        "refund_order",
        {"order_id": "ORD-1001", "amount": 89.99, "reason": "wrong size"},
    ),
    (
        "I need my money back for ORD-3003, 15 dollars, the package never arrived",
        "refund_order",
        {"order_id": "ORD-3003", "amount": 15, "reason": "package never arrived"},
    ),
    (
        "I was charged twice for ORD-5, please refund 9.99",
        "refund_order",
        {"order_id": "ORD-5", "amount": 9.99, "reason": "charged twice"},
    ),
    (
        "refund 20 euros on order 77, damaged",
        "refund_order",
        {"order_id": "77", "amount": 20, "reason": "damaged"},
    ),
    (
        "退款 ORD-8899，金额 30 元，原因：商品损坏",
        "refund_order",
        {"order_id": "ORD-8899", "amount": 30, "reason": "商品损坏"},
    ),
    (
        "Please cancel the subscription for jane@example.com, it's too expensive",
        "cancel_subscription",
        {"email": "jane@example.com", "reason": "too_expensive"},
    ),
    (
        "unsubscribe bob@corp.io — I'm not using it anymore",
        "cancel_subscription",
        {"email": "bob@corp.io", "reason": "not_using"},
    ),
    (
        "I'd like to cancel my plan, I'm switching to another provider. My email is x@y.com",
        "cancel_subscription",
        {"email": "x@y.com", "reason": "switching_provider"},
    ),
    (
        "我要取消订阅，邮箱 wang@example.com，太贵了",
        "cancel_subscription",
        {"email": "wang@example.com", "reason": "too_expensive"},
    ),
    (
        "是否可以取消我的订阅？邮箱 li@x.cn，我不用了",
        "cancel_subscription",
        {"email": "li@x.cn", "reason": "not_using"},
    ),
    ('Search the docs for "password reset"', "search_docs", {"query": "password reset"}),
    ("How do I export my data to CSV?", "search_docs", {"query": "export my data to CSV"}),
    (
        "find articles about two-factor authentication, top 3",
        "search_docs",
        {"query": "two-factor authentication", "limit": 3},
    ),
    ("search docs for error 500 when paying", "search_docs", {"query": "error 500 when paying"}),
    ("找一下关于退款政策的文档", "search_docs", {"query": "退款政策"}),
    (
        'Open a high priority ticket: "Checkout page crashes" for amy@shop.com',
        "create_ticket",
        {"title": "Checkout page crashes", "priority": "high", "email": "amy@shop.com"},
    ),
    (
        "urgent: login is broken for everyone, file a ticket, contact ops@acme.com",
        "create_ticket",
        {"title": "login is broken for everyone", "priority": "high", "email": "ops@acme.com"},
    ),
    (
        "create ticket title: Refund not received, priority: medium, email: joe@ex.com",
        "create_ticket",
        {"title": "Refund not received", "priority": "medium", "email": "joe@ex.com"},
    ),
    (
        "file a low priority bug: typo on pricing page, reporter dev@x.io",
        "create_ticket",
        {"title": "typo on pricing page", "priority": "low", "email": "dev@x.io"},
    ),
    (
        "创建一个高优先级工单：支付失败，邮箱 zhao@example.com",
        "create_ticket",
        {"title": "支付失败", "priority": "high", "email": "zhao@example.com"},
    ),
    ("What's the weather in Paris?", "get_weather", {"city": "Paris"}),
    ("weather for New York in fahrenheit", "get_weather", {"city": "New York", "unit": "fahrenheit"}),
    ("What's the temperature in São Paulo in celsius?", "get_weather", {"city": "São Paulo", "unit": "celsius"}),
    ("Is it raining in tokyo?", "get_weather", {"city": "tokyo"}),
    ("北京今天天气怎么样？", "get_weather", {"city": "北京"}),
    ("查一下上海的天气", "get_weather", {"city": "上海"}),
    ("Convert 100 USD to EUR", "convert_currency", {"amount": 100, "from": "USD", "to": "EUR"}),
    ("how much is 250 euros in yen?", "convert_currency", {"amount": 250, "from": "EUR", "to": "JPY"}),
    ("How much is €40 in GBP?", "convert_currency", {"amount": 40, "from": "EUR", "to": "GBP"}),
    ("convert 1,000 JPY to USD", "convert_currency", {"amount": 1000, "from": "JPY", "to": "USD"}),
    ("convert 12.5 GBP into USD", "convert_currency", {"amount": 12.5, "from": "GBP", "to": "USD"}),
    ("把100美元换成人民币", "convert_currency", {"amount": 100, "from": "USD", "to": "CNY"}),
    (f"Look up user {UUID}", "lookup_user", {"user_id": UUID}),
    (f"who is {UUID.upper()}?", "lookup_user", {"user_id": UUID}),
    (f"帮我查一下用户 {UUID}", "lookup_user", {"user_id": UUID}),
    ("Turn off email notifications for sam@x.org", "update_notifications", {"email": "sam@x.org", "enabled": False}),
    ("enable notifications for li@example.cn", "update_notifications", {"email": "li@example.cn", "enabled": True}),
    (
        "Stop sending me notifications! my address is pat@home.net",
        "update_notifications",
        {"email": "pat@home.net", "enabled": False},
    ),
    (
        "show my last 5 orders, my email is kim@mail.com",
        "list_orders",
        {"customer_email": "kim@mail.com", "limit": 5},
    ),
    ("orders for kim@mail.com", "list_orders", {"customer_email": "kim@mail.com"}),
    ("列出 kim@mail.com 最近的 3 个订单", "list_orders", {"customer_email": "kim@mail.com", "limit": 3}),
    (
        "sales report from 2024-01-01 to 2024-03-31",
        "get_sales_report",
        {"start_date": "2024-01-01", "end_date": "2024-03-31"},
    ),
    (
        "can you give me the revenue numbers for 2024-02-01 through 2024-02-29",
        "get_sales_report",
        {"start_date": "2024-02-01", "end_date": "2024-02-29"},
    ),
    ("is https://status.example.com up?", "check_website", {"url": "https://status.example.com"}),
    ("Is example.org down? https://example.org/health", "check_website", {"url": "https://example.org/health"}),
    ("send me invoice inv-0042", "get_invoice", {"invoice_id": "INV-0042"}),
    ("what's happening with ticket 981?", "get_ticket", {"ticket_id": 981}),
    ("ticket #77 status", "get_ticket", {"ticket_id": 77}),
    ("search docs for billing, limit: 2", "search_docs", {"query": "billing", "limit": 2}),
    ("weather in Oslo, unit: celsius", "get_weather", {"city": "Oslo", "unit": "celsius"}),
]

# (request, tool, arguments found, arguments asked for)
ASKS = [
    ("Please refund order ORD-2002", "refund_order", {"order_id": "ORD-2002"}, ["amount", "reason"]),
    ("cancel my subscription", "cancel_subscription", {}, ["email", "reason"]),
    (
        "Open a ticket for amy@x.com with high priority",
        "create_ticket",
        {"email": "amy@x.com", "priority": "high"},
        ["title"],
    ),
    ("weather", "get_weather", {}, ["city"]),
    ("Turn off notifications", "update_notifications", {"enabled": False}, ["email"]),
    ("convert 100 to EUR", "convert_currency", {"amount": 100, "to": "EUR"}, ["from"]),
    ("sales report since 2024-01-01", "get_sales_report", {"start_date": "2024-01-01"}, ["end_date"]),
]

CHIT_CHAT = ["hi there!", "Tell me a joke", "What's 2+2?", "what's up", "I need help", "my email is a@b.com", "你好"]


@pytest.fixture(scope="module")
def model():
    return OfflineChatModel().bind_tools(TOOLS)


def _ask(model, *texts: str) -> list:
    """Send each text as the next user turn; returns the whole conversation."""
    messages: list = []
    for text in texts:
        messages.append(HumanMessage(text))
        messages.append(model.invoke(messages))
    return messages


@pytest.mark.parametrize(("text", "name", "args"), CALLS, ids=[row[0][:40] for row in CALLS])
def test_a_request_calls_the_right_tool_with_the_right_arguments(model, text, name, args):
    reply = model.invoke([HumanMessage(text)])
    assert [(call["name"], call["args"]) for call in reply.tool_calls] == [(name, args)]
    assert reply.content == "" and PENDING_KEY not in reply.additional_kwargs


def test_the_table_is_broad():
    assert len(CALLS) >= 30
    assert len({name for _, name, _ in CALLS}) == len(TOOLS)
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text, _, _ in CALLS) >= 8


@pytest.mark.parametrize(("text", "name", "found", "missing"), ASKS, ids=[row[0][:40] for row in ASKS])
def test_a_missing_required_argument_is_asked_for_by_name(model, text, name, found, missing):
    reply = model.invoke([HumanMessage(text)])
    assert reply.tool_calls == []
    assert reply.additional_kwargs[PENDING_KEY] == {"tool": name, "args": found, "missing": missing}
    assert reply.content.startswith(PREFIX) and name in reply.content
    for argument in missing:
        assert argument in reply.content


def test_the_question_names_descriptions_and_choices(model):
    reply = model.invoke([HumanMessage("cancel my subscription")])
    assert "email (The customer's email address)" in reply.content
    assert "one of too_expensive, not_using, missing_features, switching_provider, other" in reply.content


@pytest.mark.parametrize(
    ("turns", "name", "args"),
    [
        (
            ["Please refund order ORD-2002", "$30, it arrived broken"],
            "refund_order",
            {"order_id": "ORD-2002", "amount": 30, "reason": "arrived broken"},
        ),
        (
            ["Please refund order ORD-2002", "30", "it arrived broken"],
            "refund_order",
            {"order_id": "ORD-2002", "amount": 30, "reason": "it arrived broken"},
        ),
        (
            ["Open a ticket for amy@x.com with high priority", "The export button does nothing"],
            "create_ticket",
            {"email": "amy@x.com", "priority": "high", "title": "The export button does nothing"},
        ),
        (
            ["cancel my subscription", "it's jo@x.com", "too expensive"],
            "cancel_subscription",
            {"email": "jo@x.com", "reason": "too_expensive"},
        ),
        (["weather", "Berlin"], "get_weather", {"city": "Berlin"}),
        (["天气", "柏林"], "get_weather", {"city": "柏林"}),
        (["Turn off notifications", "ann@x.org"], "update_notifications", {"enabled": False, "email": "ann@x.org"}),
        (["convert 100 to EUR", "from dollars"], "convert_currency", {"amount": 100, "to": "EUR", "from": "USD"}),
    ],
)
def test_the_next_message_completes_a_pending_call(model, turns, name, args):
    conversation = _ask(model, *turns)
    for reply in conversation[1:-1:2]:
        assert reply.tool_calls == [] and PENDING_KEY in reply.additional_kwargs
    final = conversation[-1]
    assert [(call["name"], call["args"]) for call in final.tool_calls] == [(name, args)]


def test_an_unhelpful_answer_is_asked_again_keeping_what_was_found(model):
    *_, again = _ask(model, "Please refund order ORD-2002", "hmm")
    pending = again.additional_kwargs[PENDING_KEY]
    assert pending["args"] == {"order_id": "ORD-2002"} and again.content.startswith(f"{PREFIX}I still need")
    assert not again.tool_calls


def test_a_new_request_replaces_the_pending_one_and_never_mind_drops_it(model):
    *_, switched = _ask(model, "Please refund order ORD-2002", "actually, what's the weather in Rome?")
    assert [(c["name"], c["args"]) for c in switched.tool_calls] == [("get_weather", {"city": "Rome"})]
    *_, dropped = _ask(model, "Please refund order ORD-2002", "never mind")
    assert dropped.content == f"{PREFIX}OK, I won't run refund_order." and not dropped.tool_calls
    assert PENDING_KEY not in dropped.additional_kwargs


@pytest.mark.parametrize("text", CHIT_CHAT)
def test_chit_chat_gets_an_honest_reply_without_a_tool(model, text):
    reply = model.invoke([HumanMessage(text)])
    assert reply.tool_calls == [] and PENDING_KEY not in reply.additional_kwargs
    assert reply.content.startswith(f"{PREFIX}")
    assert "No language model is configured" in reply.content and "get_order (Look up an order" in reply.content


def test_greetings_and_thanks_are_acknowledged(model):
    assert model.invoke("hello!").content.startswith(f"{PREFIX}Hello! No language model is configured")
    assert model.invoke("thanks, that's all").content == f"{PREFIX}You're welcome!"


def test_without_tools_it_says_how_to_configure_a_model():
    for text in ("Where is my order ORD-1?", "hello"):
        reply = OfflineChatModel().invoke(text)
        assert reply.tool_calls == []
        assert reply.content.startswith(PREFIX) and "LOOPDESK_LLM_PROVIDER" in reply.content


def _after_tool(result: ToolMessage, name: str = "get_order") -> list:
    call = {"name": name, "args": {"order_id": "ORD-1234"}, "id": "call_1", "type": "tool_call"}
    return [HumanMessage("Where is my order ORD-1234?"), AIMessage("", tool_calls=[call]), result]


@pytest.mark.parametrize(
    ("result", "answer"),
    [
        (
            ToolMessage(
                json.dumps(
                    {"order_id": "ORD-1234", "status": "shipped", "items": [{"sku": "A"}, {"sku": "B"}], "gift": False}
                ),
                tool_call_id="call_1",
            ),
            "get_order returned: order id: ORD-1234; status: shipped; gift: no; items: 2 items.",
        ),
        (
            ToolMessage("Error: order not found", tool_call_id="call_1", status="error"),
            "get_order failed: order not found.",
        ),
        (
            ToolMessage(json.dumps({"error": "service unavailable"}), tool_call_id="call_1"),
            "get_order failed: service unavailable.",
        ),
        (
            ToolMessage(
                json.dumps([{"title": "Reset your password"}, {"title": "2FA setup"}]),
                tool_call_id="call_1",
                name="search_docs",
            ),
            "search_docs returned: 2 results: Reset your password; 2FA setup.",
        ),
        (ToolMessage("Sunny, 21 degrees", tool_call_id="call_1"), "get_order returned: Sunny, 21 degrees."),
        (ToolMessage("[]", tool_call_id="call_1"), "get_order returned nothing."),
    ],
)
def test_it_answers_from_the_tool_result(model, result, answer):
    reply = model.invoke(_after_tool(result))
    assert reply.content == PREFIX + answer and reply.tool_calls == []


def test_streaming_sends_words_and_one_tool_call_chunk(model):
    chunks = list(model.stream([HumanMessage("Where is my order ORD-1234?")]))
    assert [c for c in chunks if c.content] == []
    [call_chunk] = [c for c in chunks if c.tool_call_chunks]
    assert call_chunk.tool_call_chunks[0]["name"] == "get_order"
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("get_order", {"order_id": "ORD-1234"})]
    assert merged.response_metadata["model_name"] == "offline"
    text_chunks = list(model.stream(_after_tool(ToolMessage('{"status": "shipped"}', tool_call_id="call_1"))))
    words = [c.content for c in text_chunks if c.content]
    assert len(words) > 3 and "".join(words) == f"{PREFIX}get_order returned: status: shipped."
    pending = list(model.stream([HumanMessage("cancel my subscription")]))
    merged = pending[0]
    for chunk in pending[1:]:
        merged += chunk
    assert merged.additional_kwargs[PENDING_KEY]["tool"] == "cancel_subscription"


def test_tool_call_ids_are_unique(model):
    ids = {model.invoke("Where is my order ORD-1234?").tool_calls[0]["id"] for _ in range(5)}
    assert len(ids) == 5 and all(i.startswith("call_") for i in ids)


def test_tool_choice_forces_or_forbids_tools():
    forced = OfflineChatModel().bind_tools(TOOLS, tool_choice={"type": "function", "function": {"name": "search_docs"}})
    reply = forced.invoke('"refund policy"')
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("search_docs", {"query": "refund policy"})]
    assert OfflineChatModel().bind_tools(TOOLS, tool_choice="none").invoke("Where is order ORD-1?").tool_calls == []
    anyone = OfflineChatModel().bind_tools(TOOLS[:1], tool_choice="any").invoke("ORD-77 please")
    assert [(c["name"], c["args"]) for c in anyone.tool_calls] == [("get_order", {"order_id": "ORD-77"})]


def test_usage_and_metadata(model):
    reply = model.invoke("Where is my order ORD-1234?")
    assert reply.usage_metadata["input_tokens"] == 5 and reply.usage_metadata["output_tokens"] > 0
    assert reply.response_metadata == {"model_name": "offline", "finish_reason": "tool_calls"}


OTHER_TOOLS = [
    _function(
        "create_issue",
        "Create an issue in a GitHub repository.",
        {
            "repo": {"type": "string", "description": "owner/name"},
            "title": {"type": "string"},
            "body": {"type": "string"},
        },
        ["repo", "title"],
    ),
    _function(
        "list_pull_requests",
        "List pull requests of a repository.",
        {"repo": {"type": "string"}, "state": {"type": "string", "enum": ["open", "closed", "all"]}},
        ["repo"],
    ),
    _function(
        "merge_pull_request",
        "Merge a pull request.",
        {"repo": {"type": "string"}, "number": {"type": "integer", "description": "pull request number"}},
        ["repo", "number"],
    ),
    _function("get_user", "Get a GitHub user's profile.", {"username": {"type": "string"}}, ["username"]),
    _function(
        "send_email",
        "Send an email message.",
        {"to": {"type": "string", "format": "email"}, "subject": {"type": "string"}, "body": {"type": "string"}},
        ["to", "subject", "body"],
    ),
    _function(
        "set_reminder",
        "Remind me about something at a given time.",
        {"text": {"type": "string"}, "at": {"type": "string", "format": "date-time"}},
        ["text", "at"],
    ),
]
OTHER_CALLS = [
    (
        "open an issue in acme/web titled Login fails on Safari",
        "create_issue",
        {"repo": "acme/web", "title": "Login fails on Safari"},
    ),
    ("list open PRs for acme/api", "list_pull_requests", {"repo": "acme/api", "state": "open"}),
    ("show closed pull requests in repo: acme/web", "list_pull_requests", {"repo": "acme/web", "state": "closed"}),
    ("merge PR 42 in acme/api", "merge_pull_request", {"repo": "acme/api", "number": 42}),
    ("merge pull request #42 of repo acme/api", "merge_pull_request", {"repo": "acme/api", "number": 42}),
    ("who is octocat?", "get_user", {"username": "octocat"}),
    ("get user octocat", "get_user", {"username": "octocat"}),
    (
        "email bob@x.com subject: Lunch, body: see you at noon",
        "send_email",
        {"to": "bob@x.com", "subject": "Lunch", "body": "see you at noon"},
    ),
    ("remind me to call mom at 2024-06-01T18:00", "set_reminder", {"text": "call mom", "at": "2024-06-01T18:00"}),
    ("set a reminder: dentist, 2024-07-01T09:30", "set_reminder", {"text": "dentist", "at": "2024-07-01T09:30"}),
]


@pytest.mark.parametrize(("text", "name", "args"), OTHER_CALLS, ids=[row[0][:40] for row in OTHER_CALLS])
def test_an_unrelated_toolset_works_the_same_way(text, name, args):
    reply = OfflineChatModel().bind_tools(OTHER_TOOLS).invoke(text)
    assert [(call["name"], call["args"]) for call in reply.tool_calls] == [(name, args)]

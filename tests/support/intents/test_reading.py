from __future__ import annotations

import pytest

from loopdesk.support.intents import IntentModel, IntentPrediction, read_message
from loopdesk.support.intents.reading import is_ambiguous, segments


@pytest.mark.parametrize(
    ("text", "intent"),
    [("Hi! Where is my package? Thanks", "order_status"), ("您好，我想取消订单", "cancel_order")],
)
def test_one_request_reads_as_single(intent_model: IntentModel, text: str, intent: str) -> None:
    reading = read_message(intent_model, text)
    assert reading.kind == "single"
    assert reading.intents == [intent]


@pytest.mark.parametrize(
    ("text", "intents"),
    [
        ("Where is my order? Also I want a refund for the shoes", ["order_status", "refund"]),
        ("Please cancel my order and then change the shipping address", ["cancel_order", "change_address"]),
        ("我的订单到哪里了？另外我想申请退款", ["order_status", "refund"]),
        ("优惠码用不了，还有帮我查一下物流", ["coupon", "order_status"]),
    ],
)
def test_two_requests_read_as_multi_in_message_order(intent_model: IntentModel, text: str, intents: list[str]) -> None:
    reading = read_message(intent_model, text)
    assert reading.kind == "multi"
    assert reading.intents == intents
    assert all(segment in text for segment, _ in reading.parts)


def test_the_same_intent_twice_is_single(intent_model: IntentModel) -> None:
    reading = read_message(intent_model, "Where is my order? Also, has my package shipped yet?")
    assert reading.kind == "single"
    assert reading.intents == ["order_status"]


@pytest.mark.parametrize("text", ["I have a problem with my order", "我的订单有点问题"])
def test_a_vague_request_reads_as_ambiguous(intent_model: IntentModel, text: str) -> None:
    assert read_message(intent_model, text).kind == "ambiguous"


@pytest.mark.parametrize("text", ["What is the capital of France?", "今天天气怎么样"])
def test_an_unrelated_question_reads_as_oos(intent_model: IntentModel, text: str) -> None:
    reading = read_message(intent_model, text)
    assert reading.kind == "oos"
    assert reading.intents == ["oos"]


@pytest.mark.parametrize("text", ["", "  ", "?!", "1234"])
def test_a_message_without_words_reads_as_oos(intent_model: IntentModel, text: str) -> None:
    reading = read_message(intent_model, text)
    assert reading.kind == "oos"
    assert reading.parts == []


def test_unsure_or_close_answers_are_ambiguous(intent_model: IntentModel) -> None:
    close = IntentPrediction("refund", 0.55, (("refund", 0.55), ("oos", 0.3), ("cancel_order", 0.5)))
    unsure = IntentPrediction("refund", 0.3, (("refund", 0.3), ("cancel_order", 0.1), ("coupon", 0.05)))
    clear = IntentPrediction("refund", 0.9, (("refund", 0.9), ("cancel_order", 0.05), ("coupon", 0.01)))
    assert is_ambiguous(intent_model, close)
    assert is_ambiguous(intent_model, unsure)
    assert not is_ambiguous(intent_model, clear)


def test_segments_keep_short_pieces_with_their_neighbour() -> None:
    assert segments("Thanks. Where is my order? And also refund the shoes") == [
        "Thanks. Where is my order",
        "refund the shoes",
    ]
    assert segments("rock and roll") == ["rock and roll"]
    assert segments("帮我查一下订单状态，还有我要取消订单") == ["帮我查一下订单状态", "我要取消订单"]

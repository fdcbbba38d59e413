from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loopdesk.support.intents import IntentModel, IntentModelError
from loopdesk.support.intents.training import TrainConfig
from tests.support.intents.examples import EXAMPLES, examples


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("has my parcel been shipped? it's been a week", "order_status"),
        ("please cancel the order I placed this morning", "cancel_order"),
        ("I would like my money back for this jacket", "refund"),
        ("deliver it to my new home address instead", "change_address"),
        ("the discount code isn't working at checkout", "coupon"),
        ("我的快递现在到哪儿了", "order_status"),
        ("刚才下的订单帮我取消", "cancel_order"),
        ("东西坏了，我要退款", "refund"),
        ("收货地址写错了，要改一下", "change_address"),
        ("这个优惠码怎么用不了", "coupon"),
    ],
)
def test_predicts_unseen_phrasings_in_english_and_chinese(intent_model: IntentModel, text: str, intent: str) -> None:
    [prediction] = intent_model.predict([text])
    assert prediction.intent == intent
    assert 0.0 <= prediction.confidence <= 1.0
    assert prediction.alternatives[0][0] == intent


@pytest.mark.parametrize(
    "text", ["what is the weather in paris tomorrow", "给我讲一个笑话吧", "who painted the mona lisa"]
)
def test_out_of_scope_questions_are_oos(intent_model: IntentModel, text: str) -> None:
    assert intent_model.predict([text])[0].intent == "oos"


def test_predictions_carry_three_alternatives_best_first(intent_model: IntentModel) -> None:
    [prediction] = intent_model.predict(["refund my order"])
    assert len(prediction.alternatives) == 3
    scores = [score for _, score in prediction.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert len({intent for intent, _ in prediction.alternatives}) == 3


def test_an_answer_below_the_threshold_is_oos(intent_model: IntentModel, tmp_path: Path) -> None:
    strict = IntentModel.load(intent_model.save(tmp_path / "model"))
    [normal] = strict.predict(["money"])
    assert normal.intent == "refund"
    assert normal.confidence < 0.99
    strict.oos_threshold = normal.confidence + 0.01
    [unsure] = strict.predict(["money"])
    assert unsure.intent == "oos"
    assert unsure.alternatives == normal.alternatives


def test_without_oos_examples_the_threshold_is_chosen_on_held_out_data() -> None:
    in_scope = [(text, intent) for text, intent in examples() if intent not in ("oos", "ambiguous")]
    model = IntentModel.train(in_scope, TrainConfig(max_in_scope_loss=0.05))
    assert "oos" not in model.classes
    assert 0.0 < model.oos_threshold < 1.0
    assert model.info["held_out"]["examples"] == len(in_scope)
    assert model.predict(["where is my order"])[0].intent == "order_status"


def test_training_refuses_an_intent_with_a_single_example() -> None:
    with pytest.raises(ValueError, match="at least 2 examples.*lonely"):
        IntentModel.train([*examples(), ("just one", "lonely")])


def test_training_refuses_an_empty_text() -> None:
    with pytest.raises(ValueError, match="example 3"):
        IntentModel.train([("where is my order", "order_status"), ("cancel it", "cancel_order"), ("  ", "refund")])


def test_save_and_load_give_the_same_predictions(intent_model: IntentModel, tmp_path: Path) -> None:
    texts = ["where is my order", "我要退款", "tell me a joke", "I have a problem with my order"]
    loaded = IntentModel.load(intent_model.save(tmp_path / "model"))
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "vocabulary.json", "weights.npz"]
    assert loaded.classes == intent_model.classes
    assert loaded.oos_threshold == intent_model.oos_threshold
    assert loaded.predict(texts) == intent_model.predict(texts)
    assert set(loaded.classes) == set(EXAMPLES)


def _edit_json(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _object_array(path: Path) -> None:
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["coef"] = np.array([{"x": 1}], dtype=object)
    np.savez(path, **arrays)


CORRUPTIONS = {
    "weights truncated": lambda d: _truncate(d / "weights.npz"),
    "weights missing": lambda d: (d / "weights.npz").unlink(),
    "pickled object array": lambda d: _object_array(d / "weights.npz"),
    "not JSON": lambda d: (d / "model.json").write_text("{oops"),
    "unknown format": lambda d: _edit_json(d / "model.json", lambda m: m.update(format=99)),
    "a class removed": lambda d: _edit_json(d / "model.json", lambda m: m["classes"].pop()),
    "threshold out of range": lambda d: _edit_json(d / "model.json", lambda m: m.update(oos_threshold=7)),
    "vocabulary cut short": lambda d: _edit_json(d / "vocabulary.json", lambda v: v["word"].pop()),
    "vocabulary not an object": lambda d: (d / "vocabulary.json").write_text("[]"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupted_model_directory_is_refused(intent_model: IntentModel, tmp_path: Path, corruption: str) -> None:
    directory = intent_model.save(tmp_path / "model")
    CORRUPTIONS[corruption](directory)
    with pytest.raises(IntentModelError):
        IntentModel.load(directory)


def test_a_model_trained_on_other_embeddings_is_refused(intent_model: IntentModel, tmp_path: Path) -> None:
    directory = intent_model.save(tmp_path / "model")
    _edit_json(directory / "model.json", lambda m: m.update(embedder="some-other-model"))
    with pytest.raises(IntentModelError, match="some-other-model"):
        IntentModel.load(directory).predict(["where is my order"])

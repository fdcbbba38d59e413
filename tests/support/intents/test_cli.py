from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.intents.examples import examples

LOOPDESK = str(Path(sys.executable).parent / "loopdesk")


def _run(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOOPDESK_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([LOOPDESK, "intents", *args], input=stdin, capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp_path = tmp_path_factory.mktemp("cli")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "intent": i}, ensure_ascii=False) + "\n" for t, i in examples()))
    return tmp_path, _run(["train", str(data), "--out", str(tmp_path / "model")], tmp_path)


def test_train_saves_a_model_and_reports_counts_and_held_out_accuracy(trained) -> None:  # type: ignore[no-untyped-def]
    tmp_path, result = trained
    assert result.returncode == 0, result.stderr
    assert "held-out accuracy" in result.stderr
    assert "order_status" in result.stderr and "14" in result.stderr
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "vocabulary.json", "weights.npz"]


def test_classify_answers_every_line_in_order_and_reports_bad_ones(trained) -> None:  # type: ignore[no-untyped-def]
    tmp_path, _ = trained
    lines = [
        json.dumps({"id": 1, "text": "where is my parcel"}),
        "{not json",
        json.dumps({"id": "b", "text": "我要退款"}),
        json.dumps({"id": "c"}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"id": "d", "text": "what is the capital of france"}),
    ]
    result = _run(["classify", "--model", str(tmp_path / "model")], tmp_path, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == [1, None, "b", "c", None, "d"]
    assert answers[0]["intent"] == "order_status" and 0 < answers[0]["confidence"] <= 1
    assert answers[2]["intent"] == "refund"
    assert answers[5]["intent"] == "oos"
    assert set(answers[0]) == {"id", "intent", "confidence"}
    assert [set(answers[i]) for i in (1, 3, 4)] == [{"id", "error"}] * 3
    assert "invalid JSON" in answers[1]["error"] and "text" in answers[3]["error"]


def test_train_refuses_a_bad_line_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "where is my order", "intent": "order_status"}\n\n{"text": "cancel it"}\n')
    result = _run(["train", str(data), "--out", str(tmp_path / "model")], tmp_path)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "line 3" in message and "intent" in message
    assert not (tmp_path / "model").exists()


def test_classify_without_a_model_exits_with_a_message(tmp_path: Path) -> None:
    result = _run(["classify"], tmp_path, '{"id": 1, "text": "hi"}\n')
    assert result.returncode == 2
    assert "cannot load the intent model" in result.stderr
    assert result.stdout == ""

"""`train` and `classify` commands: one JSON answer per input line, whatever the line holds."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import orjson
import pytest
from typer.testing import CliRunner

from loopdesk.triage.issue_type import cli
from loopdesk.triage.issue_type.cli import app, read_line_batches
from loopdesk.triage.issue_type.seed import seed_records

runner = CliRunner()


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_classify_streams_one_object_per_line_with_type_and_confidence():
    stdin = "".join(
        json.dumps(item, ensure_ascii=False) + "\n"
        for item in (
            {"title": "App crashes on start", "body": "Segfault every time."},
            {"title": "希望支持深色模式", "body": ""},
            {"title": "How do I export my data?"},
        )
    )
    result = runner.invoke(app, ["classify"], input=stdin)
    assert result.exit_code == 0, result.output
    out = _lines(result.stdout)
    assert [o["issue_type"] for o in out] == ["bug", "suggestion", "question"]
    assert all(0 < o["confidence"] <= 1 for o in out)


def test_bad_lines_get_an_error_object_and_the_batch_goes_on():
    big = json.dumps({"title": "Huge log", "body": "ERROR at line 1\n" * 70_000}).encode()  # ~1 MB body
    lines = [
        b'{"title": "Crash on save", "body": "boom"}',
        b"{not json",
        b'{"title": "", "body": ""}',
        b'{"foo": 1}',
        b'"just a string"',
        b"\xff\xfe\x00binary\x00junk\x9c",
        b'{"title": "bad utf8 \xff\xfe inside", "body": "still readable"}',
        big,
        json.dumps({"title": "Login 按钮点击后报错 500，请问怎么解决？", "body": "mixed 中文 and English"}).encode(),
        b'{"title": null, "body": 12345}',
        b'{"title": ["list"], "body": "x"}',
    ]
    result = runner.invoke(app, ["classify"], input=b"\n".join(lines) + b"\n")
    assert result.exit_code == 0, result.output
    out = _lines(result.stdout)
    assert len(out) == len(lines)
    errors = [o.get("error") for o in out]
    assert errors == [None, "invalid_json", "empty_text", "empty_text", "invalid_item", "invalid_json", None, None,
                      None, None, "invalid_field"]  # fmt: skip
    assert out[7]["issue_type"] in {"bug", "suggestion", "question"}
    assert out[8]["language"] == "zh"


def test_blank_lines_are_skipped_and_a_missing_final_newline_is_fine():
    result = runner.invoke(app, ["classify"], input='\n\n{"title": "Add export"}\n\n{"title": "Crash"}')
    assert len(_lines(result.stdout)) == 2


def test_line_batches_follow_what_the_stream_holds():
    stream = io.BytesIO(b'{"a": 1}\n{"b": 2}\npartial')
    assert list(read_line_batches(stream)) == [[b'{"a": 1}', b'{"b": 2}'], [b"partial"]]


def test_an_over_long_line_becomes_one_error_and_the_next_line_is_read(monkeypatch):
    monkeypatch.setattr(cli, "MAX_LINE_BYTES", 1_000)
    stream = io.BytesIO(b"x" * 200_000 + b'\n{"title": "ok"}\n')
    batches = [line for batch in read_line_batches(stream) for line in batch]
    assert batches == [None, b'{"title": "ok"}']


def test_train_then_classify_with_the_trained_model(tmp_path):
    data = tmp_path / "train.jsonl"
    records = seed_records(per_class=30, seed=5)
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + "not json\n")
    model_dir = tmp_path / "model"
    result = runner.invoke(app, ["train", "--input", str(data), "--model-dir", str(model_dir)])
    assert result.exit_code == 0, result.output
    assert (model_dir / "model.json").is_file()
    classified = runner.invoke(app, ["classify", "--model-dir", str(model_dir)], input='{"title": "App crashes"}\n')
    assert _lines(classified.stdout)[0]["issue_type"] == "bug"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "--input", "/nonexistent.jsonl", "--model-dir", "/nonexistent-out"], "no such file"),
     (["classify", "--model-dir", "/nonexistent-model"], "cannot load")],
)  # fmt: skip
def test_unusable_paths_exit_with_a_message(args, message):
    result = runner.invoke(app, args, input="")
    assert result.exit_code == 2
    assert message in result.output


def test_training_data_missing_a_class_fails_cleanly(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"title": "crash", "issue_type": "bug"}\n' * 5)
    result = runner.invoke(app, ["train", "--input", str(data), "--model-dir", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "cannot train" in result.output


def test_module_runs_as_a_script_and_answers_through_a_pipe():
    process = subprocess.run(
        [sys.executable, "-m", "loopdesk.triage.issue_type.cli", "classify"],
        input=b'{"title": "How can I change my password?"}\nnot json\n',
        capture_output=True,
        timeout=60,
    )
    assert process.returncode == 0, process.stderr
    out = [orjson.loads(line) for line in process.stdout.splitlines()]
    assert out[0]["issue_type"] == "question"
    assert out[1]["error"] == "invalid_json"

"""`loopdesk dedup index|clusters` in-process: a JSONL backfill whose bad lines cost only themselves."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from loopdesk.triage.dedup.cli import app


@pytest.mark.usefixtures("embedder")  # the real model, loaded once per session
def test_index_then_clusters(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("LOOPDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("LOOPDESK_DATA_DIR", str(tmp_path))
    ids = [str(uuid.uuid4()) for _ in range(3)]
    lines = [
        {"item_id": ids[0], "kind": "suggestion", "text": "Please add a dark mode"},
        "not json",
        {"item_id": ids[1], "kind": "suggestion", "text": "希望增加夜间模式"},
        {"item_id": "nope", "kind": "suggestion", "text": "x"},
        {"item_id": ids[2], "kind": "suggestion", "text": "   "},
    ]
    stdin = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    runner = CliRunner()

    indexed = runner.invoke(app, ["index", "--batch", "2"], input=stdin)

    assert indexed.exit_code == 0, indexed.output
    out = sorted((json.loads(line) for line in indexed.stdout.splitlines()), key=lambda o: o["line"])
    assert [(o["line"], o.get("status"), "error" in o) for o in out] == [
        (1, "indexed", False),
        (2, None, True),
        (3, "indexed", False),
        (4, None, True),
        (5, "skipped", False),
    ]
    found = runner.invoke(app, ["clusters", "--kind", "suggestion"])
    assert found.exit_code == 0, found.output
    [cluster] = [json.loads(line) for line in found.stdout.splitlines()]
    assert cluster["count"] == 2 and set(cluster["item_ids"]) == set(ids[:2])


def test_every_command_has_help() -> None:
    for command in (["index"], ["clusters"]):
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output

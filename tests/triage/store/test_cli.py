"""`loopdesk logs ingest`: a gzipped file streamed into the store in committed batches."""

from __future__ import annotations

import gzip

import orjson
import psycopg
from typer.testing import CliRunner

from loopdesk.triage.store.cli import app


def test_ingest_streams_a_gzipped_file_in_batches_and_reports_bad_lines(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("LOOPDESK_DATA_DIR", str(tmp_path))
    lines = [orjson.dumps({"ts": 1764496800 + i, "msg": f"job {i} done", "service": "batch"}) for i in range(2500)]
    lines.insert(1200, b"\xde\xad\xbe\xef")
    path = tmp_path / "jobs.log.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    result = CliRunner().invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "stored 2500 records, 1 lines refused" in result.output
    assert "line 1201: not UTF-8 text" in result.output
    with psycopg.connect(database_url) as conn:
        count, templates = conn.execute(
            "SELECT count(*), count(DISTINCT template) FROM log_records WHERE service = 'batch'"
        ).fetchone()
    assert count == 2500 and templates >= 1


def test_otlp_files_hold_one_export_per_line(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("LOOPDESK_DATA_DIR", str(tmp_path))
    export = {
        "resourceLogs": [
            {"scopeLogs": [{"logRecords": [{"timeUnixNano": "1764496800000000000", "body": {"stringValue": "hi"}}]}]}
        ]
    }
    path = tmp_path / "otlp.jsonl"
    path.write_bytes(orjson.dumps(export) + b"\n[]\n" + orjson.dumps(export))
    result = CliRunner().invoke(app, ["ingest", "--format", "otlp", "--service", "collector", str(path)])
    assert result.exit_code == 0, result.output
    assert "stored 2 records, 1 lines refused" in result.output

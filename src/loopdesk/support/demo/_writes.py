"""Writes that happen once: the `Idempotency-Key` of a request replays the first answer, and every write the
service executes leaves an audit row, both in the transaction that changes the data."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from loopdesk.support.demo._db import DemoError, transaction

REPLAYED_HEADER = "Idempotent-Replayed"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_write(
    conn: sqlite3.Connection,
    operation: str,
    key: str | None,
    args: dict[str, Any],
    act: Callable[[sqlite3.Connection], BaseModel],
    *,
    status: int = 200,
) -> JSONResponse:
    """Run `act` in a transaction unless `key` was seen; a refusal (DemoError) is stored and replayed too."""
    arguments = json.dumps(args, sort_keys=True, ensure_ascii=False)
    fingerprint = f"{operation} {arguments}"
    with transaction(conn):
        if key is not None:
            first = conn.execute("SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)).fetchone()
            if first is not None:
                if first["fingerprint"] != fingerprint:
                    raise DemoError(422, f"Idempotency-Key {key!r} was first used for another request; send a new key")
                return JSONResponse(
                    json.loads(first["body"]), status_code=first["status"], headers={REPLAYED_HEADER: "true"}
                )
        conn.execute("SAVEPOINT act")
        try:
            body: dict[str, Any] = act(conn).model_dump(mode="json")
        except DemoError as exc:
            conn.execute("ROLLBACK TO act")
            status, body = exc.status, {"detail": exc.detail}
        conn.execute("RELEASE act")
        at = now()
        conn.execute(
            "INSERT INTO audit (operation, idempotency_key, args, status, at) VALUES (?, ?, ?, ?, ?)",
            (operation, key, arguments, status, at),
        )
        if key is not None:
            conn.execute(
                "INSERT INTO idempotency (key, fingerprint, status, body, at) VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, status, json.dumps(body, ensure_ascii=False), at),
            )
    return JSONResponse(body, status_code=status)


def audit_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, operation, idempotency_key, args, status, at FROM audit ORDER BY id").fetchall()
    return [{**dict(row), "args": json.loads(row["args"])} for row in rows]

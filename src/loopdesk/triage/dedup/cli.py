"""`loopdesk dedup index|clusters`: backfill the index from JSONL on stdin, print clusters as JSONL.
A bad line or a bad item gets its own result; the run goes on."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Annotated, Any

import orjson
import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from loopdesk.core.db import Database, resolve_database_url
from loopdesk.core.logging import configure_logging
from loopdesk.core.settings import Settings, SettingsError
from loopdesk.triage.dedup.clusters import clusters
from loopdesk.triage.dedup.service import ItemText, index_items

app = typer.Typer(
    help="De-duplication: index feedback texts, show clusters of similar ones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ItemLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    item_id: uuid.UUID
    kind: str
    text: str
    owner_id: uuid.UUID | None = None


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(payload, default=str).decode() + "\n")
    sys.stdout.flush()


def _database() -> Database:
    try:
        settings = Settings.load()
    except SettingsError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.logging, stream=sys.stderr)  # stdout carries the results
    return Database.connect(resolve_database_url(settings), pool_size=1, max_overflow=0)


def _parse(line: str) -> ItemLine:
    try:
        return ItemLine.model_validate(orjson.loads(line))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])) from None


@app.command("index")
def index_command(
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Items embedded and committed together.")] = 32,
) -> None:
    """Each line: {"item_id", "kind", "text", "owner_id"?} → {"line", "item_id", "status", "reason"}
    (status: indexed, unchanged, skipped, failed) or {"line", "error"}."""
    asyncio.run(_index(batch))


async def _index(batch: int) -> None:
    database = _database()
    pending: list[tuple[int, ItemText]] = []
    try:
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            try:
                item = _parse(line)
            except ValueError as exc:
                _emit({"line": number, "error": str(exc)})
                continue
            pending.append((number, ItemText(item.item_id, item.kind, item.text, item.owner_id)))
            if len(pending) >= batch:
                await _flush(database, pending)
                pending = []
        await _flush(database, pending)
    finally:
        await database.dispose()


async def _flush(database: Database, pending: list[tuple[int, ItemText]]) -> None:
    if not pending:
        return
    try:
        async with database.sessionmaker() as session, session.begin():
            results = await index_items(session, [item for _, item in pending])
    except Exception as exc:  # the batch's transaction is gone; the next batch gets a fresh one
        for number, item in pending:
            _emit({"line": number, "item_id": item.item_id, "error": f"{type(exc).__name__}: {exc}"})
        return
    for (number, _), result in zip(pending, results, strict=True):
        _emit({"line": number, "item_id": result.item_id, "status": result.status, "reason": result.reason})


@app.command("clusters")
def clusters_command(
    kind: Annotated[str, typer.Option(help="Kind of items to group.")] = "suggestion",
    threshold: Annotated[float | None, typer.Option(min=0, max=1, help="Default: the suggest threshold.")] = None,
    min_size: Annotated[int, typer.Option(min=2)] = 2,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """One line per cluster, largest first: {"count", "representative_id", "representative_text", "item_ids"}."""
    asyncio.run(_clusters(kind, threshold, min_size, limit))


async def _clusters(kind: str, threshold: float | None, min_size: int, limit: int) -> None:
    database = _database()
    try:
        async with database.sessionmaker() as session:
            found = await clusters(session, kind, threshold, min_size=min_size, limit=limit)
    finally:
        await database.dispose()
    for cluster in found:
        _emit(
            {
                "count": cluster.count,
                "representative_id": cluster.representative_id,
                "representative_text": cluster.representative_text,
                "item_ids": cluster.item_ids,
            }
        )


if __name__ == "__main__":
    app()

"""Agent Protocol paging: one row past the page tells whether there is a next one, announced in the
`X-Pagination-Next` header as the next offset; `select` trims each item to the named fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel

T = TypeVar("T")


def split_page(rows: Sequence[T], limit: int) -> tuple[Sequence[T], bool]:
    """Rows fetched with `limit + 1` → (the page, whether more follow)."""
    return rows[:limit], len(rows) > limit


def render_page(
    response: Response,
    items: Sequence[BaseModel],
    *,
    offset: int,
    limit: int,
    more: bool,
    select: Sequence[str] | None,
) -> list[dict[str, Any]]:
    if more:
        response.headers["X-Pagination-Next"] = str(offset + limit)
    dumped = [item.model_dump(mode="json") for item in items]
    if select:
        dumped = [{key: item[key] for key in select} for item in dumped]
    return dumped

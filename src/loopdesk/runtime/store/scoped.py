"""A store view confined to one owner: every namespace is silently prefixed with the owner's scope on
the way in and stripped on the way out. The HTTP store API and (with runs) the graphs a user runs both
see their own space only; a graph's memory of one customer never surfaces for another."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)


class ScopedStore(BaseStore):
    def __init__(self, inner: BaseStore, scope: str):
        self.inner = inner
        self.scope = scope
        self.supports_ttl = inner.supports_ttl

    @classmethod
    def for_owner(cls, inner: BaseStore, owner_id: object) -> ScopedStore:
        return cls(inner, f"user:{owner_id}")

    def _in(self, namespace: tuple[str, ...]) -> tuple[str, ...]:
        return (self.scope, *namespace)

    def _rewrite(self, op: Op) -> Op:
        if isinstance(op, GetOp):
            return GetOp(self._in(op.namespace), op.key, op.refresh_ttl)
        if isinstance(op, PutOp):
            return PutOp(self._in(op.namespace), op.key, op.value, op.index, op.ttl)
        if isinstance(op, SearchOp):
            return SearchOp(self._in(op.namespace_prefix), op.filter, op.limit, op.offset, op.query, op.refresh_ttl)
        if isinstance(op, ListNamespacesOp):
            conditions = list(op.match_conditions or ())
            prefixes = [c for c in conditions if c.match_type == "prefix"]
            others = [c for c in conditions if c.match_type != "prefix"]
            prefix = prefixes[0].path if prefixes else ()
            scoped = (MatchCondition("prefix", self._in(tuple(prefix))), *others)
            depth = None if op.max_depth is None else op.max_depth + 1
            return ListNamespacesOp(scoped, depth, op.limit, op.offset)
        raise TypeError(f"unknown store operation {type(op).__name__}")

    def _out(self, result: Any) -> Any:
        if isinstance(result, SearchItem):
            return SearchItem(
                result.namespace[1:], result.key, result.value, result.created_at, result.updated_at, result.score
            )
        if isinstance(result, Item):
            return Item(
                namespace=result.namespace[1:],
                key=result.key,
                value=result.value,
                created_at=result.created_at,
                updated_at=result.updated_at,
            )
        if isinstance(result, list):
            return [tuple(r[1:]) if isinstance(r, tuple) else self._out(r) for r in result]
        return result

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return [self._out(r) for r in self.inner.batch([self._rewrite(op) for op in ops])]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return [self._out(r) for r in await self.inner.abatch([self._rewrite(op) for op in ops])]

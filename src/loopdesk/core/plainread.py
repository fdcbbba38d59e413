"""Hot reads without the ORM's execution machinery: a prebuilt select of one mapped entity (and any columns
after it) compiled once to SQL and run on the session's own psycopg connection, inside its transaction.

On the run path (every authenticated request reads its user; every run its assistant and thread) the ORM's
execute and load steps were about 18 % of the API's CPU at 50 clients (py-spy, benchmarks/runtime.py). The
entity still comes back as the ORM would give it: persistent in the session, in its identity map, with
nothing to flush, so that handlers may change it as before."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy import BindParameter, Select, inspect
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql import visitors

_DIALECT = pg_psycopg.dialect()

M = TypeVar("M")


class EntityRead(Generic[M]):
    """`statement`: `select(Model)` with any filters, locks and `add_columns(...)`; its bind parameters are
    named (`bindparam("name")`) and given to `first`, literal values are compiled in as parameters."""

    def __init__(self, model: type[M], statement: Select[Any]):
        self.model = model
        mapper = inspect(model)
        table = mapper.local_table
        columns = list(statement.selected_columns)
        self.width = 0
        attributes: list[str] = []
        for column in columns:
            if getattr(column, "table", None) is not table:
                break
            attributes.append(mapper.get_property_by_column(column).key)
            self.width += 1
        if not self.width:
            raise ValueError(f"the statement does not select {model.__name__} first")
        self.attributes = tuple(attributes)
        self.primary_key = tuple(attributes.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)
        # Named parameters stay placeholders; literal ones (an IN list included) are rendered as parameters of
        # their own, with their values kept in `constants`.
        named = {b.key for b in visitors.iterate(statement) if isinstance(b, BindParameter) and b.required}
        compiled = statement.params(dict.fromkeys(named)).compile(dialect=_DIALECT)
        expanded = compiled.construct_expanded_state()
        self.sql = expanded.statement
        self.constants = {
            k: v.value if isinstance(v, Enum) else v for k, v in expanded.parameters.items() if k not in named
        }
        self._mapper = mapper

    async def first(self, db: AsyncSession, params: Mapping[str, Any]) -> tuple[M, tuple[Any, ...]] | None:
        """The first row: (the entity, the columns after it), or None. Pending changes are flushed first, as the
        ORM's autoflush would (a row added in this transaction is found)."""
        if db.new or db.deleted or db.dirty:
            await db.flush()
        first_statement = not db.in_transaction()
        try:
            row = await self._fetch(db, params)
        except psycopg.OperationalError:
            # The server ended this pooled connection just before we used it (a restart, a failover, an admin's
            # pg_terminate_backend) and its goodbye had not arrived when the pool looked: as the first statement
            # of the transaction nothing is lost, so it runs once more on a fresh connection.
            if not first_statement:
                raise
            await db.invalidate()
            row = await self._fetch(db, params)
        if row is None:
            return None
        return self._entity(db, row), tuple(row[self.width :])

    async def _fetch(self, db: AsyncSession, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        connection = await (await db.connection()).get_raw_connection()
        driver = connection.driver_connection
        assert driver is not None
        cursor = await driver.execute(self.sql, {**self.constants, **params})  # type: ignore[arg-type]
        return await cursor.fetchone()

    def _entity(self, db: AsyncSession, row: tuple[Any, ...]) -> M:
        key = self._mapper.identity_key_from_primary_key([row[i] for i in self.primary_key])
        existing = db.identity_map.get(key)
        if existing is not None:  # as the ORM does: the object the session already has, unchanged
            return existing  # type: ignore[no-any-return]
        entity = self.model(**dict(zip(self.attributes, row[: self.width], strict=True)))
        make_transient_to_detached(entity)  # as if loaded: no history, nothing to flush
        db.add(entity)
        return entity

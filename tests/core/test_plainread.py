"""A hot read as plain SQL gives what the ORM gives: the entity persistent in the session (changes to it are
saved, nothing else is), the session's own object when it has one, the columns after the entity, and the
statement's literal values (an IN list) bound."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, func, select

from loopdesk.core.db import Database
from loopdesk.core.plainread import EntityRead
from loopdesk.users.models import User

_BY_ID = EntityRead(User, select(User).where(User.id == bindparam("user_id")))
_WITH_EXTRA = EntityRead(
    User,
    select(User)
    .where(User.id == bindparam("user_id"), User.role.in_(["customer", "staff"]))
    .add_columns(func.upper(User.email), User.role),
)


async def _user(database: Database, role: str = "customer") -> uuid.UUID:
    user = User(email=f"{uuid.uuid4().hex}@example.com", display_name="Plain", password_hash="x", role=role)
    async with database.sessionmaker() as session, session.begin():
        session.add(user)
    return user.id


async def test_the_entity_is_persistent_and_only_its_changes_are_saved(database_url):
    database = Database.connect(database_url)
    try:
        user_id = await _user(database)
        async with database.sessionmaker() as session, session.begin():
            found = await _BY_ID.first(session, {"user_id": user_id})
            assert found is not None
            user, extra = found
            assert extra == ()
            assert user in session and not session.dirty and not session.new
            assert (user.display_name, user.role, user.is_active) == ("Plain", "customer", True)
            user.display_name = "Changed"
        async with database.sessionmaker() as session:
            assert await session.scalar(select(User.display_name).where(User.id == user_id)) == "Changed"
            assert await _BY_ID.first(session, {"user_id": uuid.uuid4()}) is None
    finally:
        await database.dispose()


async def test_the_sessions_own_object_is_returned_and_literal_values_are_bound(database_url):
    database = Database.connect(database_url)
    try:
        customer, admin = await _user(database), await _user(database, role="admin")
        async with database.sessionmaker() as session:
            loaded = await session.get(User, customer)
            found = await _WITH_EXTRA.first(session, {"user_id": customer})
            assert found is not None
            assert found[0] is loaded
            assert found[1] == (loaded.email.upper(), "customer")
            assert await _WITH_EXTRA.first(session, {"user_id": admin}) is None  # not in the IN list
    finally:
        await database.dispose()


async def test_what_the_session_added_and_has_not_flushed_is_found(database_url):
    database = Database.connect(database_url)
    try:
        async with database.sessionmaker() as session, session.begin():
            user = User(email=f"{uuid.uuid4().hex}@example.com", display_name="New", password_hash="x", role="customer")
            user.id = uuid.uuid4()
            session.add(user)  # pending: the ORM would flush it before a query
            found = await _BY_ID.first(session, {"user_id": user.id})
            assert found is not None and found[0] is user
    finally:
        await database.dispose()


async def test_a_connection_the_server_just_ended_is_replaced_for_the_first_read(
    pg_admin_url, database_url, monkeypatch
):
    """The pool hands out a connection whose end it cannot see yet (the server's goodbye still on its way): the
    first read of a transaction runs once more on a fresh connection instead of failing the request."""
    from loopdesk.core import db as db_module
    from tests.core.test_db_pool import _terminate_backends

    database = Database.connect(database_url)
    try:
        user_id = await _user(database)  # a pooled connection, idle now
        _terminate_backends(pg_admin_url, database_url)
        monkeypatch.setattr(db_module, "in_doubt", lambda connection, idle: False)  # the pool does not notice
        async with database.sessionmaker() as session:
            found = await _BY_ID.first(session, {"user_id": user_id})
            assert found is not None and found[0].id == user_id
            await session.commit()
    finally:
        await database.engine.dispose()

"""TaskRepository details the workflow relies on."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from loopdesk.feedback.repository import TaskRepository
from loopdesk.users.models import User
from tests.feedback.workflow_helpers import CRASH, post


@pytest.fixture
def settings(settings):
    settings.feedback.feedback_workflow = False  # the task stays where the test puts it
    return settings


async def test_a_locked_read_sees_a_change_made_after_an_earlier_read_in_the_same_session(
    app, client, make_account, database_url
) -> None:
    alice = await make_account("alice")
    task_id = (await post(client, alice, "/api/v1/feedback", CRASH, 201))["task"]["id"]
    async with app.state.database.sessionmaker() as session, session.begin():
        repository = TaskRepository(session)
        reader = await session.get(User, uuid.UUID(alice.id))
        before = await repository.get_readable(reader, task_id)
        assert before.workflow_stage == "classified"
        with psycopg.connect(database_url, autocommit=True) as conn:  # another transaction moves it on
            conn.execute("UPDATE tasks SET workflow_stage = 'analyzed' WHERE id = %s", (task_id,))
        locked = await repository.get_for_update(uuid.UUID(task_id))
        assert locked is before and locked.workflow_stage == "analyzed"

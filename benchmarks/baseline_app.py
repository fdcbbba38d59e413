"""The baseline: what a hand-rolled FastAPI wrapper does for the same reads, with no auth, no
middleware and no error envelope, on the same engine settings and the same database."""

from __future__ import annotations

import os
import uuid

from fastapi import FastAPI
from sqlalchemy import text

from loopdesk.core.db import Database

database = Database.connect(os.environ["BASELINE_DATABASE_URL"])
app = FastAPI()


@app.get("/ping-db")
async def ping_db() -> dict:
    await database.ping()
    return {"status": "ok"}


@app.get("/users/{user_id}")
async def read_user(user_id: uuid.UUID) -> dict:
    async with database.sessionmaker() as session:
        row = (
            await session.execute(
                text("SELECT id, email, display_name, role FROM users WHERE id = :id"), {"id": user_id}
            )
        ).one()
    return {"id": str(row.id), "email": row.email, "display_name": row.display_name, "role": row.role}

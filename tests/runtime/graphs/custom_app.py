"""A custom app for langgraph.json `http.app` (tests/runtime/test_custom_routes.py)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.started = True
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/hello/{name}", tags=["custom"])
async def hello(name: str, request: Request) -> dict:
    """Greets the caller."""
    user = request.scope.get("user")
    return {"hello": name, "caller": getattr(user, "email", None), "started": request.app.state.started}


@app.get("/ok")
async def shadow_ok() -> dict:
    """Declared by loopdesk too: loopdesk's answers."""
    return {"custom": True}

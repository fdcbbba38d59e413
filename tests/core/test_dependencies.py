"""Every dependency of every route is a coroutine: FastAPI runs a plain `def` dependency in its thread
pool, a thread hop (and a wait for the GIL) per request for what is only a read of app.state."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant

from loopdesk.app import create_app
from loopdesk.core.settings import Settings


def _is_async(call: Any) -> bool:
    for candidate in (call, type(call).__call__):  # a function, or an instance with an async __call__
        if inspect.iscoroutinefunction(candidate) or inspect.isasyncgenfunction(candidate):
            return True
    return False


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "dependant"):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from _routes(route.routes)


def _sync_calls(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        if dependency.call is not None and not _is_async(dependency.call):
            yield f"{dependency.call.__module__}.{dependency.call.__qualname__}"
        yield from _sync_calls(dependency)


def test_no_route_runs_a_dependency_or_handler_in_the_thread_pool(settings: Settings) -> None:
    app = create_app(settings)
    routes = list(_routes(app.router.routes))
    assert len(routes) > 100  # the walk reaches the included routers
    offenders = set()
    for route in routes:
        offenders.update(_sync_calls(route.dependant))
        if not _is_async(route.endpoint):
            offenders.add(f"{route.endpoint.__module__}.{route.endpoint.__qualname__} (handler)")
    assert not offenders, sorted(offenders)

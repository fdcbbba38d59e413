from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.tools.mcp.servers import HTTPToolbox, toolbox_http


@pytest.fixture(scope="session")
async def http_toolbox() -> AsyncIterator[HTTPToolbox]:
    """One toolbox over streamable HTTP for the tests that do not change or kill it."""
    async with toolbox_http() as server:
        yield server

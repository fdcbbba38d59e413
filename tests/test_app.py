"""The app as uvicorn serves it (`loopdesk serve` and the suite's server take the same options)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

REQUEST = b"GET /api/v1/health HTTP/1.1\r\nHost: loopdesk\r\n\r\n"


@pytest.fixture
def settings(settings):
    settings.server.keepalive_seconds = 2  # short, so that the test sees both sides of it
    return settings


async def _answer(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
    )
    await reader.readexactly(length)
    return head


async def test_an_idle_connection_stays_open_for_the_keepalive_setting_and_is_closed_after(server_url):
    """A proxy or client reuses idle connections: one idle for less than LOOPDESK_KEEPALIVE_SECONDS still answers
    (uvicorn's own 5 s would race a proxy's 60 s reuse and fail a request now and then); one idle past it is closed."""
    address = urlsplit(server_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(REQUEST)
        assert (await _answer(reader)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(1)  # idle, within the setting
        writer.write(REQUEST)
        assert (await _answer(reader)).startswith(b"HTTP/1.1 200")  # the same connection answered
        await asyncio.sleep(3)  # idle past it: the server closed the connection
        assert await asyncio.wait_for(reader.read(1), 5) == b""
    finally:
        writer.close()


def test_serve_runs_uvicorn_with_the_settings_keepalive():
    from loopdesk.app import server_options
    from loopdesk.core.settings import ServerSettings, Settings

    settings = Settings(server=ServerSettings(_env_file=None))
    assert server_options(settings)["timeout_keep_alive"] == 75  # above nginx's 60 s upstream reuse
    settings.server.keepalive_seconds = 300
    assert server_options(settings)["timeout_keep_alive"] == 300

"""Realtime tests: a small live-event buffer (so that slow readers overflow it)."""

import pytest

from loopdesk.core.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.realtime.ws_buffer_events = 16
    settings.runtime.default_assistant = "chat"
    return settings

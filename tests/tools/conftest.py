"""Tool tests: the shop plugin folder is loaded, and approvals are swept every second."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from loopdesk.core.settings import Settings

PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.tools.plugins_dir = PLUGINS
    settings.tools.approval_sweep_seconds = 1
    return settings


def plugin_module(name: str = "shop_tools"):
    """The plugin file's module as the registry loaded it (to read what its tools executed)."""
    key = f"loopdesk_plugin_{uuid.uuid5(uuid.NAMESPACE_URL, str((PLUGINS / f'{name}.py').resolve())).hex}"
    return sys.modules[key]

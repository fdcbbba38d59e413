"""loopdesk: a self-hosted AI agent service for support and feedback operations."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Read lazily: package metadata costs ~70 ms, which streaming CLI commands should not pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("loopdesk")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0"
    raise AttributeError(f"module 'loopdesk' has no attribute {name!r}")

"""loopdesk: a self-hosted AI agent service for support and feedback operations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loopdesk")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

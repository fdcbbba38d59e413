"""MCP servers as tool sources (stdio processes and streamable-HTTP endpoints)."""

from loopdesk.tools.mcp.config import MCPServerConfig
from loopdesk.tools.mcp.source import MCPSource

__all__ = ["MCPServerConfig", "MCPSource"]

"""MCP server configuration: what is required per transport, and secrets kept out of every display."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loopdesk.tools.mcp import MCPServerConfig

SECRET = "sk-live-" + "0123456789abcdef"  # built at run time, as a real key would be


def test_stdio_needs_a_command_and_http_an_http_url():
    stdio = MCPServerConfig(name="files", transport="stdio", command="mcp-files", args=["--root", "/srv"])
    assert (stdio.timeout_seconds, stdio.call_timeout_seconds) == (30, 60)
    http = MCPServerConfig(name="crm-2", transport="http", url="https://crm.example.com/mcp")
    assert http.url == "https://crm.example.com/mcp"
    with pytest.raises(ValidationError, match="needs a command"):
        MCPServerConfig(name="files", transport="stdio")
    for url in (None, "ftp://crm.example.com/mcp", "crm.example.com/mcp", "http:///mcp"):
        with pytest.raises(ValidationError, match="http\\(s\\) url"):
            MCPServerConfig(name="crm", transport="http", url=url)


def test_fields_of_the_other_transport_are_refused():
    with pytest.raises(ValidationError, match="http servers only"):
        MCPServerConfig(name="files", transport="stdio", command="mcp-files", url="http://x.example/mcp")
    with pytest.raises(ValidationError, match="stdio servers only"):
        MCPServerConfig(name="crm", transport="http", url="http://x.example/mcp", env={"A": "b"})
    with pytest.raises(ValidationError):
        MCPServerConfig(name="crm", transport="sse", url="http://x.example/mcp")
    stored = MCPServerConfig.model_validate(
        {"name": "crm", "transport": "http", "url": "http://x.example/mcp", "headers_names": []}
    )
    assert not hasattr(stored, "headers_names")  # bookkeeping keys of a stored configuration are ignored


@pytest.mark.parametrize("name", ["", "Files", "my files", "files.v2", "x" * 41, "crm/1"])
def test_names_are_short_lowercase_identifiers(name: str):
    with pytest.raises(ValidationError):
        MCPServerConfig(name=name, transport="stdio", command="mcp-files")


def test_env_names_header_names_and_timeouts_are_checked():
    with pytest.raises(ValidationError, match="environment variable"):
        MCPServerConfig(name="a", transport="stdio", command="x", env={"BAD-NAME": "v"})
    with pytest.raises(ValidationError, match="header name"):
        MCPServerConfig(name="a", transport="http", url="http://x.example", headers={"Bad Header": "v"})
    with pytest.raises(ValidationError, match="line breaks"):
        MCPServerConfig(name="a", transport="http", url="http://x.example", headers={"X-Key": "a\r\nHost: evil"})
    with pytest.raises(ValidationError):
        MCPServerConfig(name="a", transport="stdio", command="x", timeout_seconds=0)


def test_secrets_never_show_in_repr_str_public_dict_or_errors():
    stdio = MCPServerConfig(name="files", transport="stdio", command="mcp-files", env={"FILES_TOKEN": SECRET})
    http = MCPServerConfig(
        name="crm",
        transport="http",
        url=f"https://bot:{SECRET}@crm.example.com/mcp",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    for config in (stdio, http):
        for text in (repr(config), str(config), repr(config.public_dict()), repr(config.redacted())):
            assert SECRET not in text
        assert config.secret_values  # the configuration itself keeps them (the source needs them)
    assert stdio.public_dict()["env"] == {"FILES_TOKEN": "***"} and "FILES_TOKEN" in repr(stdio)
    assert http.public_dict()["headers"] == {"Authorization": "***"}
    assert http.public_dict()["url"] == "https://***@crm.example.com/mcp"
    assert stdio.redacted().env == {"FILES_TOKEN": "***"} and stdio.env == {"FILES_TOKEN": SECRET}
    assert stdio.mask(f"failed with token {SECRET}.") == "failed with token ***."
    # An invalid configuration's error must not echo the input (the env would be in it).
    with pytest.raises(ValidationError) as error:
        MCPServerConfig(name="files", transport="stdio", env={"FILES_TOKEN": SECRET})
    assert SECRET not in str(error.value) and "needs a command" in str(error.value)
    with pytest.raises(ValidationError) as error:
        MCPServerConfig(name="crm", transport="http", url="ftp://x", headers={"Authorization": SECRET})
    assert SECRET not in str(error.value)

"""How to reach one MCP server: a command to spawn (stdio) or a streamable-HTTP URL.

`env` and `headers` values are secrets (API keys, bearer tokens): they never appear in `repr`, in
validation errors or in `public_dict()`, the form for display and logs."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MASK = "***"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class MCPServerConfig(BaseModel):
    # Validation errors would otherwise echo the input, secrets included. Unknown keys are ignored:
    # stored configurations carry bookkeeping of their own (e.g. the names of the secrets).
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    call_timeout_seconds: float = Field(default=60, gt=0, le=3600)

    @field_validator("env")
    @classmethod
    def _env_keys(cls, env: dict[str, str]) -> dict[str, str]:
        bad = [key for key in env if not _ENV_KEY.match(key)]
        if bad:
            raise ValueError(f"invalid environment variable name(s): {', '.join(sorted(bad))}")
        return env

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        bad = [key for key in headers if not _HEADER_NAME.match(key)]
        if bad:
            raise ValueError(f"invalid header name(s): {', '.join(sorted(bad))}")
        if any("\r" in value or "\n" in value for value in headers.values()):
            raise ValueError("header values must not contain line breaks")
        return headers

    @model_validator(mode="after")
    def _transport_fields(self) -> MCPServerConfig:
        if self.transport == "stdio":
            if not self.command or not self.command.strip():
                raise ValueError("a stdio server needs a command")
            if self.url or self.headers:
                raise ValueError("url and headers apply to http servers only")
        else:
            parts = urlsplit(self.url or "")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("an http server needs an http(s) url with a host")
            if self.command or self.args or self.env or self.cwd:
                raise ValueError("command, args, env and cwd apply to stdio servers only")
        return self

    @property
    def secret_values(self) -> list[str]:
        """The values to keep out of any text shown or logged (the server's stderr included)."""
        values = [*self.env.values(), *self.headers.values()]
        password = urlsplit(self.url).password if self.url else None
        return [v for v in (*values, password) if v]

    def public_dict(self) -> dict[str, Any]:
        """The configuration for display and logs: secret values masked, names kept."""
        data = self.model_dump()
        data["env"] = dict.fromkeys(self.env, MASK)
        data["headers"] = dict.fromkeys(self.headers, MASK)
        data["url"] = redact_url(self.url)
        return data

    def redacted(self) -> MCPServerConfig:
        """A copy safe to show: secret values masked."""
        return self.model_copy(update=self.public_dict())

    def mask(self, text: str) -> str:
        """`text` with every secret value of this configuration replaced by the mask."""
        # Values of under 4 characters are no real secret, and masking them would garble the text.
        for value in sorted((v for v in self.secret_values if len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def __repr_args__(self) -> Any:
        public = self.public_dict()
        return [(key, public[key]) for key in type(self).model_fields]


def redact_url(url: str | None) -> str | None:
    """The URL without its user and password (the rest of a URL is shown in health details)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))

"""A real WebSocket client for the tests (the `websockets` library), which validates every frame it
receives against the protocol's JSON Schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema_rs
from websockets.asyncio.client import ClientConnection, connect

from loopdesk.realtime.gateway import SCHEMA_PATH

_SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _validator(definition: str) -> Any:
    schema = {key: value for key, value in _SCHEMA.items() if key != "oneOf"}
    return jsonschema_rs.validator_for({**schema, "$ref": f"#/$defs/{definition}"})


SERVER_FRAME = _validator("ServerFrame")
CLIENT_FRAME = _validator("ClientFrame")


def ws_url(server_url: str, token: str | None = None) -> str:
    base = server_url.replace("http://", "ws://") + "/ws"
    return f"{base}?token={token}" if token else base


class WS:
    """A connected socket: `send` JSON frames, `recv` schema-checked frames, `until` a frame type."""

    def __init__(self, connection: ClientConnection):
        self.connection = connection
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server_url: str, token: str, **options: Any) -> WS:
        return cls(await connect(ws_url(server_url, token), open_timeout=10, **options))

    async def send(self, frame: dict[str, Any]) -> None:
        CLIENT_FRAME.validate(frame)
        await self.connection.send(json.dumps(frame))

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send(data)

    async def recv(self, within: float = 15) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        SERVER_FRAME.validate(frame)
        self.received.append(frame)
        return frame

    async def until(self, kind: str, *, within: float = 20, **match: Any) -> list[dict[str, Any]]:
        """Frames up to and including the first of type `kind` (whose fields equal `match`)."""
        frames = []
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} frame {match} within {within} s; got {frames}")
            frame = await self.recv(left)
            frames.append(frame)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frames

    async def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a frame with an id and return the ack or error that answers it (frames before it are kept)."""
        ref = frame.setdefault("id", f"req-{len(self.received)}-{id(frame)}")
        await self.send(frame)
        while True:
            reply = await self.recv()
            if reply["type"] in ("ack", "error", "pong") and reply.get("ref") == ref:
                return reply

    async def close(self) -> None:
        await self.connection.close()

"""Live events between processes through Redis pub/sub (when LOOPDESK_REDIS_URL is set).

A worker publishes each batch it wrote to `loopdesk:run:<run_id>`; every API process holds one
pattern subscription and pushes the batches to its local readers, which then need no database read
per batch. Redis only speeds delivery up: the durable log stays the source of truth, so a lost
message, a Redis outage or a reconnect costs a log read, never an event."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import orjson
import structlog

from loopdesk.core.metrics import EVENTS_PUSHED
from loopdesk.runtime.runs.events import Event

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from loopdesk.runtime.runs.events import EventBus

log = structlog.get_logger("loopdesk.runs.redis")

PREFIX = "loopdesk:run:"
PUSHED_BY_REDIS = EVENTS_PUSHED.labels("redis")


def redis_client(url: str) -> Redis:
    from redis.asyncio import Redis

    # `redis+unix://` is the `limits` spelling (see core/ratelimit.py); redis-py calls it `unix://`.
    if url.startswith("redis+unix://"):
        url = "unix://" + url.removeprefix("redis+unix://")
    return Redis.from_url(url, health_check_interval=30, socket_connect_timeout=5)


def encode(events: list[Event]) -> bytes:
    # The data is JSON text already: splice it in rather than parse and re-serialise it.
    parts = [b"[" + str(e.seq).encode() + b"," + orjson.dumps(e.event) + b"," + e.data.encode() + b"]" for e in events]
    return b"[" + b",".join(parts) + b"]"


def decode(payload: bytes) -> list[Event]:
    return [Event(int(seq), str(name), orjson.dumps(data).decode()) for seq, name, data in orjson.loads(payload)]


class RedisPublisher:
    def __init__(self, url: str):
        self.client = redis_client(url)

    async def publish(self, run_id: uuid.UUID, events: list[Event]) -> None:
        await self.client.publish(f"{PREFIX}{run_id}", encode(events))

    async def close(self) -> None:
        await self.client.aclose()


async def listen(bus: EventBus, url: str) -> None:
    """Push every published batch of a run some local reader follows; reconnect on failure."""
    delay = 0.1
    while True:
        client = redis_client(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.psubscribe(f"{PREFIX}*")
                delay = 0.1
                bus.wake_all()  # batches published while we were away: readers check the log
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    key = message["channel"].decode().removeprefix(PREFIX)
                    if bus.watching(key):
                        events = decode(message["data"])
                        bus.deliver(key, events)
                        PUSHED_BY_REDIS.inc(len(events))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Redis went away: readers fall back to the log
            log.warning("events.redis_listen_failed", error=type(exc).__name__, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        finally:
            await client.aclose()

"""The queue worker's metrics, where Prometheus can read them.

Each process has its own registry. `serve` runs its worker as a child process (LOOPDESK_WORKER_PROCESS): the child
answers on a Unix socket only its parent can use, and the API's /metrics adds the child's families to its own, each
child sample labelled `process="worker"` (one scrape target per `serve`, behind the same token). A `loopdesk worker`
on its own serves them over HTTP when LOOPDESK_WORKER_METRICS_PORT is set (a scrape target of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = structlog.get_logger("loopdesk.metrics")

READ_SECONDS = 2.0


@contextlib.asynccontextmanager
async def socket_served(path: Path | None) -> AsyncIterator[None]:
    """In the worker child: answer each connection on `path` with this process's metrics (text format), while
    inside; nothing when `path` is None."""
    if path is None:
        yield
        return

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(generate_latest(REGISTRY))
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(answer, path=str(path))
    os.chmod(path, 0o600)
    try:
        yield
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def read_socket(path: Path) -> str | None:
    """In the API: the worker child's metrics, or None when it does not answer in time (it is starting, stopping or
    gone: the scrape still answers with the API's own)."""
    try:
        async with asyncio.timeout(READ_SECONDS):
            reader, writer = await asyncio.open_unix_connection(str(path))
            try:
                data = await reader.read()  # to the end: the child closes after its answer
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        log.debug("metrics.worker_unreachable", error=type(exc).__name__)
        return None
    return data.decode("utf-8", "replace")


class _Combined:
    """A registry-like view for `generate_latest`: this process's families with the child's samples merged in."""

    def __init__(self, own: Iterable[Metric], child: Iterable[Metric]):
        self.own = list(own)
        self.child = list(child)

    def collect(self) -> Iterator[Metric]:
        extra: dict[tuple[str, str], list] = {}
        loose: list[Metric] = []
        for family in self.child:
            if family.name.endswith("_created"):
                continue  # creation times: the text format sends them as families of their own; not worth merging
            samples = [s._replace(labels={**s.labels, "process": "worker"}) for s in family.samples]
            key = (family.name, family.type)
            if any((own.name, own.type) == key for own in self.own):
                extra.setdefault(key, []).extend(samples)
            else:
                family.samples = samples
                loose.append(family)
        for family in self.own:
            added = extra.get((family.name, family.type))
            if added:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                merged.samples = [*family.samples, *added]
                yield merged
            else:
                yield family
        yield from loose


def combined_exposition(child_text: str | None) -> bytes:
    """This process's metrics, plus the worker child's when given."""
    if not child_text:
        return generate_latest(REGISTRY)
    try:
        child = list(text_string_to_metric_families(child_text))
    except ValueError as exc:  # a torn read: the API's own metrics still go out
        log.warning("metrics.worker_unreadable", error=str(exc)[:200])
        return generate_latest(REGISTRY)
    return generate_latest(_Combined(REGISTRY.collect(), child))  # type: ignore[arg-type]


def serve_http(port: int, host: str) -> None:
    """`loopdesk worker` on its own: /metrics over HTTP on host:port (no authentication: bind a private address)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host)
    log.info("metrics.serving", host=host, port=port)

"""Request bodies as a stream of lines: gzip (what OpenTelemetry exporters send by default) undone on the
fly with a ceiling on the inflated size, lines cut at a maximum length, never the whole body in memory."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator

from loopdesk.core.errors import BadRequest, PayloadTooLarge
from loopdesk.triage.store.ingest import MAX_LINE

MAX_INFLATED = 64 * 1024 * 1024  # streamed line by line: memory stays small whatever this is
MAX_DOCUMENT = 16 * 1024 * 1024  # an OTLP request is parsed whole: collectors batch far below this
_STEP = 1024 * 1024


class UnsupportedEncoding(BadRequest):
    status_code, code, message = 415, "unsupported_encoding", "Content-Encoding must be gzip or identity"


async def decoded(
    chunks: AsyncIterable[bytes], encoding: str | None, *, max_inflated: int = MAX_INFLATED
) -> AsyncIterator[bytes]:
    """The body's bytes, gunzipped when `encoding` says gzip."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        async for chunk in chunks:
            yield chunk
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedEncoding(detail={"content_encoding": encoding})
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))
    produced = 0
    try:
        async for chunk in chunks:
            data = inflater.decompress(chunk, _STEP)  # a few bytes can inflate to gigabytes: a step at a time
            while True:
                produced += len(data)
                if produced > max_inflated:
                    raise PayloadTooLarge("The decompressed body is too large", detail={"max_bytes": max_inflated})
                if data:
                    yield data
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, _STEP)
        tail = inflater.flush()
    except zlib.error as exc:
        raise BadRequest("The body is not valid gzip", detail={"reason": str(exc)}) from None
    if produced + len(tail) > max_inflated:
        raise PayloadTooLarge("The decompressed body is too large", detail={"max_bytes": max_inflated})
    if tail:
        yield tail


async def read_all(chunks: AsyncIterable[bytes], *, limit: int = MAX_DOCUMENT) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(detail={"max_bytes": limit})
        parts.append(chunk)
    return b"".join(parts)


async def split_lines(chunks: AsyncIterable[bytes], *, max_line: int = MAX_LINE) -> AsyncIterator[bytes]:
    """Lines without their `\\n`. A line over `max_line` is passed on cut to `max_line + 1` bytes, so the
    parser reports it as too long instead of the server buffering it."""
    buffer = bytearray()
    skipping = False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if skipping:
                skipping = False
            else:
                buffer += chunk[start:end]
                yield bytes(buffer[: max_line + 1])
            buffer.clear()
            start = end + 1
        if not skipping:
            buffer += chunk[start:]
            if len(buffer) > max_line:
                yield bytes(buffer[: max_line + 1])
                buffer.clear()
                skipping = True
    if buffer and not skipping:
        yield bytes(buffer)


class UnsupportedMediaType(BadRequest):
    status_code, code, message = 415, "unsupported_media_type", "Unsupported Content-Type"


PROTOBUF_MESSAGE = (
    "OTLP/HTTP protobuf is not supported: export OTLP/HTTP JSON instead (collector `otlphttp` exporter: "
    "`encoding: json`; SDKs: OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/json)"
)


def require_json(content_type: str | None) -> None:
    """OTLP bodies must be JSON; protobuf gets a 415 that says how to switch the exporter over."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf"):
        raise UnsupportedMediaType(PROTOBUF_MESSAGE, detail={"content_type": media})
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("OTLP bodies must be application/json", detail={"content_type": media})

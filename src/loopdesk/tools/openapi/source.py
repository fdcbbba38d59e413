"""The runtime side of an OpenAPI import: its enabled operations as tools, each call one HTTP request.

Requests go through the SSRF-safe transport (tools/net.py). The credentials are added below httpx's
client, on a copy of the request and only for the API's own origin: a redirect elsewhere never
carries them and httpx's request log never shows a query-string key. Responses set no cookies.
Each request passes the import's circuit breaker (core/breaker.py), kept by import name across reloads."""

from __future__ import annotations

import asyncio
import http.cookiejar
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson
import structlog

from loopdesk.core.breaker import Breakers, CircuitOpen, Outcome, guarded, process_breakers
from loopdesk.tools.base import ToolCallContext, ToolNotFound, ToolResult, ToolSource, ToolSpec, ToolUnavailable
from loopdesk.tools.net import OutboundPolicy, ResponseTooLarge, SafeTransport, UnsafeDestination
from loopdesk.tools.openapi.spec import Operation, Param, body_kind

log = structlog.get_logger("loopdesk.tools.openapi")

MAX_RESULT_CHARS = 20_000
MAX_ERROR_CHARS = 2_000
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024
_GATEWAY_DOWN = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Credentials:
    """How the API authenticates: a header (`name: value`), a bearer token or a query parameter."""

    kind: Literal["header", "bearer", "query"]
    name: str = "Authorization"
    value: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("header", "bearer", "query"):
            raise ValueError(f"credentials kind must be header, bearer or query, not {self.kind!r}")
        if not self.name.strip() or any(c in self.name + self.value for c in "\r\n"):
            raise ValueError("credentials need a name, and neither name nor value may contain a line break")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


class _Authenticating(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, credentials: Credentials | None, origin: tuple):
        self.inner = inner
        self.credentials = credentials
        self.origin = origin

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        credentials = self.credentials
        if credentials is None or _origin(request.url) != self.origin:
            return await self.inner.handle_async_request(request)
        url, headers = request.url, request.headers.copy()
        if credentials.kind == "query":
            url = url.copy_merge_params({credentials.name: credentials.value})
        elif credentials.kind == "bearer":
            headers["Authorization"] = f"Bearer {credentials.value}"
        else:
            headers[credentials.name] = credentials.value
        forwarded = httpx.Request(request.method, url, headers=headers, stream=request.stream)
        forwarded.extensions = request.extensions
        return await self.inner.handle_async_request(forwarded)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _BadArguments(ValueError):
    pass


def _text(value: Any) -> str:
    """A parameter value as OpenAPI's simple style writes it (arrays and objects comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key},{_text(item)}" for key, item in value.items())
    return str(value)


def _query_pairs(name: str, value: Any, explode: bool) -> list[tuple[str, str]]:
    if explode and isinstance(value, list):
        return [(name, _text(item)) for item in value]
    if explode and isinstance(value, dict):
        return [(str(key), _text(item)) for key, item in value.items()]
    return [(name, _text(value))]


def _form_fields(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        raise _BadArguments("the request body must be an object of form fields")
    pairs = []
    for key, item in value.items():
        items = item if isinstance(item, list) else [item]
        for one in items:
            if one is not None:
                pairs.append((str(key), orjson.dumps(one).decode() if isinstance(one, dict) else _text(one)))
    return pairs


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… (truncated: {len(text):,} characters in all)"


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _breaker_outcome(exc: Exception) -> Outcome:
    """Timeouts and lost connections count against the API's circuit; our own refusals (the SSRF policy, the size
    cap, a redirect loop) say nothing about it."""
    return "failure" if isinstance(exc, (httpx.TransportError, TimeoutError)) else "ignore"


class OpenAPISource(ToolSource):
    """An imported API: one tool per enabled operation (see spec.parse_operations)."""

    kind = "openapi"

    def __init__(
        self,
        source_id: str,
        base_url: str,
        operations: Iterable[Operation],
        policy: OutboundPolicy,
        credentials: Credentials | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_result_chars: int = MAX_RESULT_CHARS,
        breakers: Breakers | None = None,
    ):
        super().__init__(source_id)
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base URL {base_url!r} must be an http(s) URL with a host")
        if url.userinfo:
            raise ValueError("the base URL must not carry credentials; pass them as Credentials")
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_result_chars = max_result_chars
        self._credentials = credentials
        self._origin = _origin(url)
        self._operations = {op.tool_name: op for op in operations if op.enabled}
        self._specs = [
            ToolSpec(
                name=op.tool_name,
                description=op.description,
                parameters=self._arguments(op),
                side_effect=op.side_effect,
                source=self.kind,
                source_id=source_id,
                metadata={"method": op.method, "path": op.path},
            )
            for op in self._operations.values()
        ]
        self._http: httpx.AsyncClient | None = None
        self._breaker = (breakers or process_breakers()).get(self.kind, source_id)

    def _supplied(self, param: Param) -> bool:
        """The source fills this parameter with the credentials (the model is not asked for the key)."""
        credentials = self._credentials
        if credentials is None:
            return False
        if credentials.kind == "query":
            return param.location == "query" and param.name == credentials.name
        header = "authorization" if credentials.kind == "bearer" else credentials.name.lower()
        return param.location == "header" and param.name.lower() == header

    def _arguments(self, op: Operation) -> dict[str, Any]:
        hidden = {param.arg for param in op.parameters if self._supplied(param)}
        if not hidden:
            return op.args_schema
        schema = dict(op.args_schema)
        schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in hidden}
        if "required" in schema:
            schema["required"] = [name for name in schema["required"] if name not in hidden]
        return schema

    def __repr__(self) -> str:
        auth = self._credentials.kind if self._credentials else None
        return f"OpenAPISource({self.source_id!r}, {self.base_url!r}, tools={len(self._specs)}, auth={auth!r})"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            safe = SafeTransport(self.policy, max_response_bytes=self.max_response_bytes)
            self._http = httpx.AsyncClient(
                transport=_Authenticating(safe, self._credentials, self._origin),
                timeout=self.timeout,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": "loopdesk"},
                # One client serves every user of the source: a session cookie must not carry over.
                cookies=http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[])),
            )
        return self._http

    async def start(self) -> None:
        self._client()
        self._set_health("ok")

    def tools(self) -> list[ToolSpec]:
        return list(self._specs)

    async def refresh(self) -> bool:
        return False  # the operations change only through a new import and its review

    async def close(self) -> None:
        if self._http is not None:
            client, self._http = self._http, None
            await client.aclose()

    def _request(
        self,
        client: httpx.AsyncClient,
        op: Operation,
        arguments: dict[str, Any],
        context: ToolCallContext,
        timeout: float,
    ) -> httpx.Request:
        path = op.path
        params: list[tuple[str, str]] = []
        headers = {"Accept": "application/json, */*;q=0.5"}
        cookies = []
        for param in op.parameters:
            if self._supplied(param):
                continue
            value = arguments.get(param.arg)
            if value is None:
                if param.location == "path":
                    raise _BadArguments(f"missing path parameter {param.arg!r}")
                continue
            if param.location == "path":
                text = _text(value)
                if text in ("", ".", ".."):  # a dot segment would reach another endpoint of the API
                    raise _BadArguments(f"path parameter {param.arg!r} cannot be {text!r}")
                path = path.replace("{" + param.name + "}", quote(text, safe=""))
            elif param.location == "query":
                params.extend(_query_pairs(param.name, value, param.explode))
            elif param.location == "header":
                headers[param.name] = _text(value)
            else:
                cookies.append(f"{param.name}={quote(_text(value), safe='')}")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        if op.side_effect != "read":
            headers["Idempotency-Key"] = context.idempotency_key
        if not all(value.isascii() and value.isprintable() for value in headers.values()):
            raise _BadArguments("header values must be printable ASCII")
        content: bytes | None = None
        data: dict[str, list[str]] | None = None
        files: list[tuple[str, tuple[None, bytes]]] | None = None
        if op.body is not None and arguments.get(op.body.arg) is not None:
            value = arguments[op.body.arg]
            kind = body_kind(op.body.content_type)
            if kind == "form":
                data = {}
                for key, item in _form_fields(value):
                    data.setdefault(key, []).append(item)
            elif kind == "multipart":
                files = [(key, (None, item.encode())) for key, item in _form_fields(value)]
            else:
                try:
                    content = value.encode() if kind == "text" and isinstance(value, str) else orjson.dumps(value)
                except TypeError as exc:
                    raise _BadArguments(f"the request body cannot be sent as JSON: {exc}") from None
                headers["Content-Type"] = op.body.content_type
        elif op.body is not None and op.body.required:
            raise _BadArguments(f"missing request body {op.body.arg!r}")
        return client.build_request(
            op.method,
            self.base_url + path,
            params=params,
            headers=headers,
            content=content,
            data=data,
            files=files,
            timeout=httpx.Timeout(timeout),
        )

    def _result(self, response: httpx.Response) -> ToolResult:
        status = response.status_code
        if status >= 300:
            excerpt = " ".join(response.text.split())[:MAX_ERROR_CHARS] or response.reason_phrase
            return ToolResult.error(f"HTTP {status}: {excerpt}")
        if not response.content:
            return ToolResult(f"HTTP {status} (no content)")
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if _is_json(media):
            try:
                data = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                pass
            else:
                text = orjson.dumps(data).decode()
                return ToolResult(
                    data if len(text) <= self.max_result_chars else _truncate(text, self.max_result_chars)
                )
        elif media and not (media.startswith("text/") or "xml" in media or media.endswith("javascript")):
            return ToolResult(f"(binary response: {media}, {len(response.content):,} bytes)")
        return ToolResult(_truncate(response.text, self.max_result_chars))

    def _unavailable(self, op: Operation, detail: str) -> ToolUnavailable:
        message = f"{op.method} {op.path} {detail}"
        self._set_health("unavailable", message)
        log.warning("openapi.unavailable", source_id=self.source_id, tool=op.tool_name, detail=message)
        return ToolUnavailable(f"{self.source_id}: {message}")

    async def call(self, name: str, arguments: dict[str, Any], context: ToolCallContext) -> ToolResult:
        op = self._operations.get(name)
        if op is None:
            raise ToolNotFound(name)
        client = self._client()
        timeout = min(self.timeout, context.timeout)
        try:
            request = self._request(client, op, arguments, context, timeout)
        except (_BadArguments, httpx.InvalidURL) as exc:
            return ToolResult.error(str(exc))
        try:
            with guarded(self._breaker, _breaker_outcome) as attempt:
                async with asyncio.timeout(timeout):  # httpx's timeouts are per phase; this bounds the whole call
                    response = await client.send(request)
                if response.status_code >= 500:
                    attempt.fail()
        except CircuitOpen as exc:  # nothing was sent; the transition was logged once, not every refused call
            self._set_health("unavailable", str(exc))
            raise ToolUnavailable(f"{self.source_id}: {exc}") from None
        except UnsafeDestination as exc:
            return ToolResult.error(f"refused: {exc}")
        except ResponseTooLarge:
            return ToolResult.error(f"refused: the response is larger than {self.max_response_bytes:,} bytes")
        except httpx.TooManyRedirects:
            return ToolResult.error("too many redirects")
        except (httpx.TimeoutException, TimeoutError):
            raise self._unavailable(op, f"timed out after {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise self._unavailable(op, f"failed: {type(exc).__name__} {exc}".rstrip()) from None
        except httpx.RequestError as exc:
            return ToolResult.error(f"{type(exc).__name__}: {exc}")
        if response.status_code not in _GATEWAY_DOWN:
            self._set_health("ok")
        return self._result(response)

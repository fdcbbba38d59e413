"""OpenAPI 3.0 / 3.1 and Swagger 2.0 documents turned into tool operations.

`load_document` reads JSON or YAML within size and expansion limits, `fetch_document` gets one over a
caller's (SSRF-safe) client and `parse_operations` resolves `$ref`s (local, relative and absolute),
normalises the schemas into JSON Schema (2020-12) and describes every operation as a tool: its name,
side effect, parameters, request body and the JSON schema of its arguments. Every refusal is a
`SpecError` whose `reason` a person can act on."""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import httpx
import jsonschema_rs
import orjson
import yaml

from loopdesk.tools.base import MAX_NAME, SideEffect, tool_name
from loopdesk.tools.net import ResponseTooLarge, UnsafeDestination
from loopdesk.tools.openapi.classify import classify

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MAX_YAML_ALIASES = 100
MAX_YAML_NESTING = 200
MAX_DOCUMENT_NODES = 1_000_000
MAX_OPERATIONS = 500
MAX_EXPANDED_NODES = 250_000
MAX_EXTERNAL_DOCUMENTS = 20
MAX_SCHEMA_DEPTH = 150
MAX_DESCRIPTION = 1000
MAX_WARNINGS = 100

Location = Literal["path", "query", "header", "cookie"]
LOCATIONS: tuple[Location, ...] = ("path", "query", "header", "cookie")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
# Headers the HTTP layer owns (OpenAPI says to ignore the first three; the source sets the last).
_OWNED_HEADERS = frozenset({"accept", "content-type", "authorization", "idempotency-key"})
_ARG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class SpecError(ValueError):
    """The document cannot be imported; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- loading


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe YAML limited to what JSON can say: timestamps stay text, binary / set / ordered maps are refused."""


def _check_shape(text: str) -> None:
    """Nesting and aliases, from the parser's events (no recursion): libyaml composes recursively in C,
    so a deep enough document would overflow the stack, and aliases can multiply a document."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_NESTING:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise SpecError(f"the YAML nests deeper than {MAX_YAML_NESTING} levels (line {line})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise SpecError(
                    f"the YAML uses more than {MAX_YAML_ALIASES} aliases (*name); "
                    "that many could expand into a 'billion laughs' bomb"
                )


def _refuse_tag(loader: yaml.BaseLoader, node: yaml.Node) -> Any:
    raise SpecError(f"the YAML value tagged {node.tag} at line {node.start_mark.line + 1} has no JSON equivalent")


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str | int | float):
        return str(key)  # `200:` in YAML responses is an integer key
    raise SpecError(f"a YAML mapping key of type {type(key).__name__} has no JSON equivalent")


def _plain(value: Any, budget: list[int]) -> Any:
    """A JSON-shaped copy of a YAML value, counting values so that shared aliases cannot multiply."""
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(f"the YAML expands to more than {MAX_DOCUMENT_NODES:,} values (an alias bomb?)")
    if isinstance(value, dict):
        return {_json_key(key): _plain(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, budget) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"the YAML value {value} has no JSON equivalent")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise SpecError(f"a YAML value of type {type(value).__name__} has no JSON equivalent")


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "empty"}.get(type(value), type(value).__name__)


def load_document(raw: bytes | str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """Parse a JSON or YAML document whose top level is a mapping."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > max_bytes:
        raise SpecError(f"document is {len(data):,} bytes; the limit is {max_bytes:,}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        json_error = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError("the document is not UTF-8 text") from None
        try:
            _check_shape(text)
            document = _plain(yaml.load(text, Loader=_Loader), [MAX_DOCUMENT_NODES])  # noqa: S506 - a safe loader
        except yaml.MarkedYAMLError as yaml_exc:
            if text.lstrip().startswith(("{", "[")):
                raise SpecError(json_error) from None
            mark = yaml_exc.problem_mark or yaml_exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise SpecError(f"invalid YAML{where}: {yaml_exc.problem or yaml_exc.context}") from None
        except yaml.YAMLError as yaml_exc:
            raise SpecError(f"invalid YAML: {yaml_exc}") from None
        except RecursionError:
            raise SpecError("the document nests too deeply") from None
    if not isinstance(document, dict):
        raise SpecError(f"the document's top level must be a mapping, not {_kind(document)}")
    return document


async def fetch_document(url: str, client: httpx.AsyncClient, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """GET a document through `client` (pass the SSRF-safe one): its bytes, or a SpecError."""
    try:
        async with client.stream("GET", url, headers={"Accept": "application/json, application/yaml, */*;q=0.5"}) as r:
            if r.status_code != 200:
                raise SpecError(f"GET {url} answered HTTP {r.status_code}")
            chunks, size = [], 0
            async for chunk in r.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SpecError(f"the document at {url} is larger than the limit of {max_bytes:,} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except UnsafeDestination as exc:
        raise SpecError(f"refused: {exc}") from None
    except ResponseTooLarge:
        raise SpecError(f"the document at {url} is larger than the limit of {max_bytes:,} bytes") from None
    except httpx.TimeoutException:
        raise SpecError(f"GET {url} timed out") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SpecError(f"cannot fetch {url}: {exc or type(exc).__name__}") from None


# ---------------------------------------------------------------- output


@dataclass
class Param:
    name: str  # as the API spells it
    location: Location
    required: bool
    schema: dict[str, Any]
    arg: str  # the property of the tool's arguments that carries it
    explode: bool = True  # arrays as repeated query parameters (else comma-separated)


@dataclass
class Body:
    content_type: str
    schema: dict[str, Any]
    required: bool
    arg: str = "body"


@dataclass
class Operation:
    index: int
    method: str  # upper case
    path: str
    operation_id: str | None
    tool_name: str
    description: str
    side_effect: SideEffect
    side_effect_reason: str
    enabled: bool
    parameters: list[Param]
    body: Body | None
    args_schema: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["parameters"] = [Param(**p) for p in data.get("parameters", [])]
        values["body"] = Body(**data["body"]) if data.get("body") else None
        return cls(**values)


@dataclass
class ParsedSpec:
    title: str
    version: str
    spec_version: str  # 2.0 | 3.0 | 3.1
    base_url: str | None
    operations: list[Operation]
    warnings: list[str] = field(default_factory=list)
    # Credentials the API declares (securitySchemes): [{"kind": "header", "name": "X-API-Key", "scheme": ...}]
    auth_hints: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParsedSpec:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["operations"] = [Operation.from_dict(op) for op in data.get("operations", [])]
        return cls(**values)


def body_kind(content_type: str) -> Literal["json", "form", "multipart", "text"] | None:
    """How a request body of this media type is sent (None: not supported)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if (
        media in ("application/json", "*/*")
        or media.endswith("+json")
        or (media.startswith("application/") and "json" in media)
    ):
        return "json"
    if media == "application/x-www-form-urlencoded":
        return "form"
    if media == "multipart/form-data":
        return "multipart"
    if media.startswith("text/"):
        return "text"
    return None


# ---------------------------------------------------------------- $ref resolution

_LITERAL_KEYS = frozenset({"example", "examples", "default", "enum", "const"})
Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class _Resolver:
    """Inlines `$ref`s within a budget of expanded nodes; a reference already open on the current path
    (a recursive schema) becomes a stub."""

    def __init__(self, root: dict[str, Any], source_url: str | None, fetch: Fetch | None, max_nodes: int):
        self.root_key = urldefrag(source_url)[0] if source_url else ""
        self.documents: dict[str, dict[str, Any]] = {self.root_key: root}
        self.fetch = fetch
        self.budget = max_nodes
        self.max_nodes = max_nodes

    async def _document(self, ref: str, base: str) -> tuple[str, dict[str, Any]]:
        location = urldefrag(ref)[0]
        if not location:
            return base, self.documents[base]
        if urlsplit(location).scheme:
            key = location
        elif base:
            key = urljoin(base, location)
        else:
            raise SpecError(f"$ref {ref!r} points to another document, but this document's URL is unknown")
        if key in self.documents:
            return key, self.documents[key]
        if urlsplit(key).scheme not in ("http", "https"):
            raise SpecError(f"$ref {ref!r}: only http(s) documents can be referenced")
        if self.fetch is None:
            raise SpecError(f"$ref {ref!r} points to another document, and external documents are not fetched here")
        if len(self.documents) > MAX_EXTERNAL_DOCUMENTS:
            raise SpecError(f"the document references more than {MAX_EXTERNAL_DOCUMENTS} other documents")
        try:
            document = await self.fetch(key)
        except SpecError as exc:
            raise SpecError(f"$ref {ref!r}: {exc.reason}") from None
        except Exception as exc:  # the caller's fetcher: any failure is a reason to show
            raise SpecError(f"$ref {ref!r}: cannot fetch {key}: {exc}") from None
        if not isinstance(document, dict):
            raise SpecError(f"$ref {ref!r}: {key} is not a mapping")
        self.documents[key] = document
        return key, document

    async def target(self, ref: str, base: str) -> tuple[str, str, Any]:
        """(document key, JSON pointer, referenced value)."""
        key, node = await self._document(ref, base)
        pointer = urldefrag(ref)[1]
        if pointer and not pointer.startswith("/"):
            raise SpecError(f"$ref {ref!r}: only JSON pointers (#/…) are supported")
        for raw in pointer.split("/")[1:]:
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SpecError(f"$ref {ref!r} points to nothing")
        return key, pointer, node

    async def deref(self, node: Any, base: str) -> tuple[Any, str]:
        """Follow a chain of `$ref`s at the top of `node` (a parameter, request body or path item)."""
        seen: set[tuple[str, str]] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            key, pointer, target = await self.target(node["$ref"], base)
            if (key, pointer) in seen:
                raise SpecError(f"$ref {node['$ref']!r} refers to itself")
            seen.add((key, pointer))
            node, base = target, key
        return node, base

    def _spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise SpecError(
                f"$ref expansion exceeds {self.max_nodes:,} schema nodes (a $ref bomb, or schemas too large to import)"
            )

    async def expand(self, node: Any, base: str, path: tuple[tuple[str, str], ...] = (), depth: int = 0) -> Any:
        """A copy of `node` with every `$ref` inlined; `path` holds the references open above it."""
        self._spend()
        if depth > MAX_SCHEMA_DEPTH:
            raise SpecError(f"schemas nest more than {MAX_SCHEMA_DEPTH} levels deep")
        if isinstance(node, list):
            return [await self.expand(item, base, path, depth + 1) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            key, pointer, target = await self.target(ref, base)
            if (key, pointer) in path:
                name = pointer.rsplit("/", 1)[-1] or ref
                return {"type": "object", "description": f"(recursive reference to {name})"}
            resolved = await self.expand(target, key, (*path, (key, pointer)), depth + 1)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if siblings and isinstance(resolved, dict):  # 3.1 allows keywords next to $ref
                resolved = {**resolved, **(await self.expand(siblings, base, path, depth + 1))}
            return resolved
        out = {}
        for key, value in node.items():
            if key in _LITERAL_KEYS or key.startswith("x-"):
                out[key] = value
            elif key in _SCHEMA_MAPS and isinstance(value, dict):  # property names, not keywords: all schemas
                self._spend()
                out[key] = {name: await self.expand(item, base, path, depth + 2) for name, item in value.items()}
            else:
                out[key] = await self.expand(value, base, path, depth + 1)
        return out


# ---------------------------------------------------------------- schema normalisation

_DROP_KEYS = frozenset(
    {
        # References and identifiers a validator would try to resolve, maybe over the network (all are inlined).
        "$schema", "$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
        "$vocabulary", "$comment", "$ref", "discriminator", "xml", "externalDocs", "nullable", "x-nullable",
    }
)  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE = (
    "items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems",
)  # fmt: skip


def normalise_schema(schema: Any) -> Any:
    """An OpenAPI / Swagger schema (already inlined) as JSON Schema 2020-12 for a request: `nullable` as
    a `null` type, boolean exclusive bounds as numbers, `file` as binary string, readOnly properties out."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP_KEYS or key.startswith("x-"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: normalise_schema(item) for name, item in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [normalise_schema(item) for item in value]
        elif key in _SCHEMA_ONE:
            out[key] = [normalise_schema(v) for v in value] if isinstance(value, list) else normalise_schema(value)
        else:
            out[key] = value
    if isinstance(out.get("items"), list):  # draft-4 tuple form
        out["prefixItems"] = out.pop("items")
    if out.get("type") == "file":
        out["type"] = "string"
        out.setdefault("format", "binary")
    if "required" in out and not (
        isinstance(out["required"], list) and all(isinstance(r, str) for r in out["required"])
    ):
        del out["required"]
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(flag), bool):
            if out.pop(flag) and bound in out:
                out[flag] = out.pop(bound)
    properties = out.get("properties")
    if isinstance(properties, dict):
        hidden = {name for name, item in properties.items() if isinstance(item, dict) and item.get("readOnly") is True}
        if hidden:
            out["properties"] = {name: item for name, item in properties.items() if name not in hidden}
            if "required" in out:
                out["required"] = [name for name in out["required"] if name not in hidden]
    if schema.get("nullable") is True or schema.get("x-nullable") is True:
        out = _nullable(out)
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list):
        schema["type"] = kind if "null" in kind else [*kind, "null"]
    else:
        return {"anyOf": [schema, {"type": "null"}]}
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _no_retrieval(uri: str) -> Any:
    raise SpecError(f"{uri} is not fetched")


def _valid_schema(schema: Any) -> str | None:
    """Why jsonschema_rs refuses the schema (None: usable)."""
    try:
        jsonschema_rs.validator_for(schema, retriever=_no_retrieval)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        return str(exc).splitlines()[0]
    return None


# ---------------------------------------------------------------- operations

_SWAGGER_SCHEMA_KEYS = (
    "type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "multipleOf", "x-nullable",
)  # fmt: skip


def _spec_version(document: dict[str, Any]) -> str:
    swagger, openapi = str(document.get("swagger", "")), str(document.get("openapi", ""))
    if swagger in ("2.0", "2"):
        return "2.0"
    match = re.fullmatch(r"3\.(\d+)(\.\d+.*)?", openapi)
    if match:
        return f"3.{match.group(1)}"
    found = (
        f"openapi: {openapi}" if openapi else f"swagger: {swagger}" if swagger else "neither `openapi` nor `swagger`"
    )
    raise SpecError(f"not an OpenAPI 3.x or Swagger 2.0 document ({found})")


def _description(operation: dict[str, Any], method: str, path: str) -> str:
    parts = [operation.get(key) for key in ("summary", "description")]
    text = "\n\n".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    if operation.get("deprecated") is True:
        text = f"(deprecated) {text}"
    text = text.strip() or f"{method} {path}"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1].rstrip() + "…"


def _pick_media(content: dict[str, Any]) -> str | None:
    order = ("json", "form", "multipart", "text")
    usable = [(order.index(kind), media) for media in content if (kind := body_kind(media))]
    return min(usable)[1] if usable else None


class _Parser:
    def __init__(self, document: dict[str, Any], spec_version: str, resolver: _Resolver):
        self.document = document
        self.swagger = spec_version == "2.0"
        self.resolver = resolver
        self.warnings: list[str] = []
        self.names: set[str] = set()

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def unique_name(self, base: str) -> str:
        name, n = base, 1
        while name.lower() in self.names:  # case-insensitive: some model APIs fold tool names
            n += 1
            suffix = f"_{n}"
            name = tool_name(base, limit=MAX_NAME - len(suffix)) + suffix
        self.names.add(name.lower())
        return name

    async def schema(self, raw: Any, base: str, where: str) -> Any:
        schema = normalise_schema(await self.resolver.expand(raw, base))
        problem = _valid_schema(schema)
        if problem:
            self.warn(f"{where}: the schema is not valid JSON Schema ({problem}); any value is accepted")
            return {}
        return schema

    async def parameters(self, item: dict[str, Any], item_base: str, op: dict[str, Any]) -> list[tuple[dict, str]]:
        merged: dict[tuple[str, str], tuple[dict, str]] = {}
        for raw_list in (item.get("parameters"), op.get("parameters")):  # the operation's override the path's
            for raw in raw_list if isinstance(raw_list, list) else []:
                param, base = await self.resolver.deref(raw, item_base)
                if (
                    not isinstance(param, dict)
                    or not isinstance(param.get("name"), str)
                    or not isinstance(param.get("in"), str)
                ):
                    self.warn("a parameter without `name` or `in` is ignored")
                    continue
                merged[(param["name"], param["in"])] = (param, base)
        return list(merged.values())

    async def param_schema(self, param: dict[str, Any], base: str, where: str) -> tuple[dict[str, Any], bool]:
        """(JSON schema, explode) of a non-body parameter."""
        location = param["in"]
        if self.swagger:
            raw = {key: param[key] for key in _SWAGGER_SCHEMA_KEYS if key in param}
            explode = param.get("collectionFormat") == "multi"
        else:
            raw = param.get("schema")
            content = param.get("content")
            if raw is None and isinstance(content, dict) and content:
                media = next(iter(content.values()))
                raw = media.get("schema") if isinstance(media, dict) else None
            explode = param.get("explode", param.get("style", "form") == "form" and location in ("query", "cookie"))
        schema = await self.schema(raw if raw is not None else {"type": "string"}, base, where)
        schema = schema if isinstance(schema, dict) else ({} if schema else {"not": {}})
        if isinstance(param.get("description"), str) and "description" not in schema:
            schema = {**schema, "description": param["description"]}
        return schema, bool(explode)

    async def body(self, op: dict[str, Any], base: str, params: list[tuple[dict, str]], where: str) -> Body | None:
        if self.swagger:
            return await self._swagger_body(op, params, where)
        raw = op.get("requestBody")
        if raw is None:
            return None
        request_body, body_base = await self.resolver.deref(raw, base)
        content = request_body.get("content") if isinstance(request_body, dict) else None
        if not isinstance(content, dict) or not content:
            return None
        media = _pick_media(content)
        if media is None:
            raise _Unsupported(f"its request body types ({', '.join(content)}) are not supported")
        entry = content[media] if isinstance(content[media], dict) else {}
        schema = await self.schema(entry.get("schema", {}), body_base, f"{where} request body")
        if isinstance(request_body.get("description"), str) and isinstance(schema, dict):
            schema.setdefault("description", request_body["description"])
        return Body(media, schema if isinstance(schema, dict) else {}, request_body.get("required") is True)

    async def _swagger_body(self, op: dict[str, Any], params: list[tuple[dict, str]], where: str) -> Body | None:
        consumes = op.get("consumes") or self.document.get("consumes") or ["application/json"]
        consumes = [c for c in consumes if isinstance(c, str)] if isinstance(consumes, list) else []
        for param, base in params:
            if param["in"] == "body":
                media = _pick_media(dict.fromkeys(c for c in consumes if body_kind(c) in ("json", "text")))
                if media is None:
                    raise _Unsupported(f"its request body types ({', '.join(consumes)}) are not supported")
                schema = await self.schema(param.get("schema", {}), base, f"{where} body")
                if isinstance(param.get("description"), str) and isinstance(schema, dict):
                    schema.setdefault("description", param["description"])
                return Body(media, schema if isinstance(schema, dict) else {}, param.get("required") is True)
        form = [(param, base) for param, base in params if param["in"] == "formData"]
        if not form:
            return None
        properties, required = {}, []
        for param, base in form:
            properties[param["name"]], _ = await self.param_schema(param, base, f"{where} form field {param['name']}")
            if param.get("required"):
                required.append(param["name"])
        files = any(param.get("type") == "file" for param, _ in form)
        media = (
            "multipart/form-data" if files or "multipart/form-data" in consumes else "application/x-www-form-urlencoded"
        )
        return Body(media, {"type": "object", "properties": properties, "required": required}, bool(required))

    async def operation(self, index: int, method: str, path: str, item: dict, base: str) -> Operation:
        op = item[method]
        upper = method.upper()
        where = f"{upper} {path}"
        if not isinstance(op, dict):
            raise SpecError(f"{where} is not a mapping")
        if op.get("servers") or item.get("servers"):
            self.warn(f"{where} declares its own servers; the document's base URL is used")
        operation_id = op.get("operationId") if isinstance(op.get("operationId"), str) else None
        side_effect, reason = classify(upper, path, op)
        raw_params = await self.parameters(item, base, op)
        params, enabled, body = [], True, None
        declared_path = set()
        for param, param_base in raw_params:
            name, location = param["name"], param["in"]
            if location not in LOCATIONS:
                continue  # Swagger body / formData: the request body
            if location == "header" and name.lower() in _OWNED_HEADERS:
                continue
            if location == "path":
                if "{" + name + "}" not in path:
                    self.warn(f"{where}: path parameter {name!r} is not in the path; ignored")
                    continue
                declared_path.add(name)
            schema, explode = await self.param_schema(param, param_base, f"{where} parameter {name}")
            required = location == "path" or param.get("required") is True
            params.append(Param(name, location, required, schema, "", explode))
        for name in _TEMPLATE.findall(path):
            if name not in declared_path:
                self.warn(f"{where}: path parameter {name!r} is not declared; taken as a string")
                params.append(Param(name, "path", True, {"type": "string"}, ""))
        try:
            body = await self.body(op, base, raw_params, where)
        except _Unsupported as exc:
            self.warn(f"{where} is disabled: {exc}")
            enabled = False
        name = self.unique_name(tool_name(operation_id) if operation_id else tool_name(method, path))
        return Operation(
            index=index,
            method=upper,
            path=path,
            operation_id=operation_id,
            tool_name=name,
            description=_description(op, upper, path),
            side_effect=side_effect,
            side_effect_reason=reason,
            enabled=enabled,
            parameters=params,
            body=body,
            args_schema=_args_schema(params, body),
        )

    def base_url(self, source_url: str | None) -> str | None:
        try:
            return self._base_url(source_url)
        except ValueError as exc:  # urllib refuses e.g. a bracketed host that is no address
            self.warn(f"the server URL is not usable ({exc}): set the base URL by hand")
            return None

    def _base_url(self, source_url: str | None) -> str | None:
        doc = self.document
        if self.swagger:
            declared = doc.get("schemes")
            schemes = [s for s in declared if s in ("http", "https")] if isinstance(declared, list) else []
            source = urlsplit(source_url) if source_url else None
            scheme = "https" if "https" in schemes else schemes[0] if schemes else source.scheme if source else "https"
            host = doc.get("host") or (source.netloc if source else None)
            if not host:
                self.warn("the document names no host and its URL is unknown: set the base URL by hand")
                return None
            url = f"{scheme}://{host}/{str(doc.get('basePath') or '').lstrip('/')}"
        else:
            servers = doc.get("servers")
            server = servers[0] if isinstance(servers, list) and servers and isinstance(servers[0], dict) else {}
            url = str(server.get("url") or "/")
            variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}

            def substitute(match: re.Match[str]) -> str:
                variable = variables.get(match.group(1))
                if isinstance(variable, dict) and "default" in variable:
                    return str(variable["default"])
                self.warn(f"server variable {match.group(1)!r} has no default")
                return match.group(0)

            url = _TEMPLATE.sub(substitute, url)
            if not urlsplit(url).scheme:
                if not source_url:
                    self.warn(f"the server URL {url!r} is relative and the document's URL is unknown")
                    return None
                url = urljoin(source_url, url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or _TEMPLATE.search(url):
            self.warn(f"the base URL {url!r} is not a usable http(s) URL: set it by hand")
            return None
        return url.rstrip("/")

    def auth_hints(self) -> list[dict[str, str]]:
        if self.swagger:
            schemes = self.document.get("securityDefinitions")
        else:
            components = self.document.get("components")
            schemes = components.get("securitySchemes") if isinstance(components, dict) else None
        hints = []
        for scheme_name, scheme in (schemes or {}).items() if isinstance(schemes, dict) else ():
            if not isinstance(scheme, dict):
                continue
            kind = scheme.get("type")
            if kind == "apiKey" and scheme.get("in") in ("header", "query") and isinstance(scheme.get("name"), str):
                hints.append({"kind": scheme["in"], "name": scheme["name"], "scheme": scheme_name})
            elif (kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer") or kind in (
                "oauth2",
                "openIdConnect",
            ):
                hints.append({"kind": "bearer", "name": "Authorization", "scheme": scheme_name})
        return hints


class _Unsupported(Exception):
    pass


def _arg_name(name: str, location: str, used: set[str]) -> str:
    base = _ARG_UNSAFE.sub("_", name).strip("_")[:MAX_NAME] or "param"
    candidates = [base, f"{location}_{base}"[:MAX_NAME]]
    candidates += [f"{base[: MAX_NAME - 4]}_{n}" for n in range(2, 1000)]
    arg = next(candidate for candidate in candidates if candidate not in used)
    used.add(arg)
    return arg


def _args_schema(params: list[Param], body: Body | None) -> dict[str, Any]:
    """The tool's arguments: one property per parameter (names made safe) and `body` for the request body."""
    used: set[str] = set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in params:
        param.arg = _arg_name(param.name, param.location, used)
        properties[param.arg] = param.schema
        if param.required:
            required.append(param.arg)
    if body is not None:
        body.arg = _arg_name("body", "request", used)
        properties[body.arg] = body.schema
        if body.required:
            required.append(body.arg)
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


async def parse_operations(
    document: dict[str, Any],
    *,
    fetch_external: Fetch | None = None,
    source_url: str | None = None,
    max_operations: int = MAX_OPERATIONS,
    max_nodes: int = MAX_EXPANDED_NODES,
) -> ParsedSpec:
    """Every operation of the document as a tool description (see `Operation`)."""
    try:
        return await _parse(document, fetch_external, source_url, max_operations, max_nodes)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError("the document nests too deeply") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:  # a shape no check foresaw
        raise SpecError(f"the document is malformed ({type(exc).__name__}: {exc})") from None


async def _parse(
    document: dict[str, Any], fetch_external: Fetch | None, source_url: str | None, max_operations: int, max_nodes: int
) -> ParsedSpec:
    if not isinstance(document, dict):
        raise SpecError(f"the document's top level must be a mapping, not {_kind(document)}")
    spec_version = _spec_version(document)
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise SpecError("the document has no `paths`: it defines no operations")
    resolver = _Resolver(document, source_url, fetch_external, max_nodes)
    parser = _Parser(document, spec_version, resolver)
    items = []
    for path, raw in paths.items():
        if not str(path).startswith("/"):
            continue  # `x-` extensions
        item, base = await resolver.deref(raw, resolver.root_key)
        if isinstance(item, dict):
            items.append((str(path), item, base, [m for m in item if m in METHODS]))
    total = sum(len(methods) for *_, methods in items)
    if total > max_operations:
        raise SpecError(f"the document defines {total:,} operations; the limit is {max_operations:,}")
    operations: list[Operation] = []
    for path, item, base, methods in items:
        for method in methods:
            operations.append(await parser.operation(len(operations), method, path, item, base))
    info = document.get("info") if isinstance(document.get("info"), dict) else {}
    base_url, auth_hints = parser.base_url(source_url), parser.auth_hints()
    warnings = parser.warnings
    if len(warnings) > MAX_WARNINGS:
        warnings = [*warnings[:MAX_WARNINGS], f"… and {len(warnings) - MAX_WARNINGS} more warnings"]
    return ParsedSpec(
        title=str(info.get("title") or "API"),
        version=str(info.get("version") or ""),
        spec_version=spec_version,
        base_url=base_url,
        operations=operations,
        warnings=warnings,
        auth_hints=auth_hints,
    )

"""A tool's profile from its JSON schema: each property's kind, and the weighted words by which a message means it."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from loopdesk.llm.offline.words import _ACTIONS, _CONCEPTS, _EXAMPLE, _STOP, _tokenize, _words

_PLACE_WORDS = frozenset({"city", "location", "place", "town", "country", "region", "destination"})
# Strings that are one identifier-like word ("acme/web", "octocat", "main"), not a phrase.
_TOKEN_WORDS = frozenset(
    {"repo", "repository", "username", "user", "login", "handle", "slug", "branch", "sku", "path", "file", "filename",
     "key", "tag", "channel", "domain", "host", "hostname", "project", "package", "namespace", "team", "bucket"}
)  # fmt: skip
_SOURCE_NAMES = frozenset({"from", "start", "begin", "since", "source", "src", "base", "origin", "min"})
_TARGET_NAMES = frozenset({"to", "end", "until", "target", "dest", "into", "max", "through"})
_NAME, _DESCRIPTION, _PROPERTY, _PROPERTY_DESCRIPTION, _EVIDENCE = 3.0, 1.0, 0.6, 0.3, 0.6


@dataclass
class _Prop:
    name: str
    schema: dict[str, Any]
    kind: str
    required: bool
    parent: str | None = None  # a field of an object argument (an API's request body): args[parent][name]

    @property
    def words(self) -> set[str]:
        return set(_words(self.name))

    @property
    def role(self) -> str | None:
        if self.words & _SOURCE_NAMES:
            return "source"
        if self.words & _TARGET_NAMES:
            return "target"
        return None

    @property
    def label(self) -> str:
        description = str(self.schema.get("description") or "").strip().rstrip(".")
        enum = self.schema.get("enum")
        details = [description] if description else []
        if enum:
            details.append("one of " + ", ".join(map(str, enum)))
        return f"{self.name} ({'; '.join(details)})" if details else self.name


@dataclass
class _Tool:
    name: str
    description: str
    props: list[_Prop]
    weights: dict[str, float] = field(default_factory=dict)
    triggers: frozenset[str] = frozenset()

    @property
    def required(self) -> list[_Prop]:
        return [p for p in self.props if p.required]

    def arguments(self, found: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments: fields of an object argument go back inside it."""
        parents = {p.name: p.parent for p in self.props if p.parent}
        args: dict[str, Any] = {}
        for name, value in found.items():
            if parents.get(name):
                args.setdefault(parents[name], {})[name] = value
            else:
                args[name] = value
        return args

    @property
    def summary(self) -> str:
        first = re.split(r"(?<=[.!?])\s", self.description.strip(), maxsplit=1)[0].rstrip(".")
        return f"{self.name} ({first})" if first else self.name


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key) or [] if isinstance(s, dict) and s.get("type") != "null"]
        if options:
            return {**options[0], **{k: v for k, v in schema.items() if k != key}}
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        return {**schema, "type": types[0] if types else "string"}
    return schema


def _kind(name: str, schema: dict[str, Any]) -> str:
    words = set(_words(name))
    description = str(schema.get("description") or "").lower()
    kind, fmt = schema.get("type", "string"), str(schema.get("format") or "")
    is_id = bool(words & {"id", "identifier", "ref", "reference"}) or (
        name.lower().endswith("number") and kind == "string"
    )
    if "enum" in schema:
        return "enum"
    if kind == "boolean":
        return "bool"
    if kind in ("integer", "number"):
        return "id" if is_id and kind == "integer" else "number"
    if fmt == "email" or "email" in words:
        return "email"
    if fmt in ("uri", "url", "iri") or words & {"url", "link", "website", "homepage", "endpoint", "site"}:
        return "url"
    if fmt == "uuid" or "uuid" in words or "uuid" in description:
        return "uuid"
    if fmt == "date-time":
        return "datetime"
    if fmt == "date" or "date" in words:
        return "date"
    if schema.get("pattern"):
        return "pattern"
    if is_id:
        return "id"
    if words & _PLACE_WORDS:
        return "place"
    return "token" if words & _TOKEN_WORDS else "text"


def _example_shape(description: str) -> str | None:
    """An identifier of capital letters only ("Account id, e.g. ACME."), which nothing else would take from a
    message, as a case-sensitive pattern. Examples with digits need none: any code-like id is found already,
    and "order 77" still fills an id shown as "e.g. ORD-1234"."""
    match = _EXAMPLE.search(description)
    if match is None or not re.fullmatch(r"[A-Z]{2,}(?:[-_][A-Z]{2,})*", match.group(1)):
        return None
    return "(?-i:" + re.sub(r"[A-Z]+", "[A-Z]{2,}", match.group(1)) + ")"


def _profile(tool: dict[str, Any]) -> _Tool:
    return _profile_of(json.dumps(tool, sort_keys=True, default=str))


@functools.lru_cache(maxsize=512)
def _profile_of(schema_json: str) -> _Tool:
    tool = json.loads(schema_json)
    function = tool.get("function", tool)
    parameters = function.get("parameters") or {}
    required = set(parameters.get("required") or [])
    props = []
    top = parameters.get("properties") or {}
    for name, raw in top.items():
        schema = _flatten(raw if isinstance(raw, dict) else {})
        fields = schema.get("properties") if schema.get("type", "object") == "object" else None
        if isinstance(fields, dict) and fields:  # a request body: its fields are what a message names
            inner = set(schema.get("required") or [])
            for field_name, field_raw in fields.items():
                if field_name in top or not isinstance(field_raw, dict):
                    continue
                field_schema = _flatten(field_raw)
                needed = name in required and field_name in inner
                props.append(_Prop(field_name, field_schema, _kind(field_name, field_schema), needed, parent=name))
            continue
        kind = _kind(name, schema)
        if kind in ("id", "token") and (shape := _example_shape(str(schema.get("description") or ""))):
            schema, kind = {**schema, "pattern": shape}, "pattern"
        props.append(_Prop(name, schema, kind, name in required))
    profile = _Tool(function.get("name", "tool"), str(function.get("description") or ""), props)
    weights: dict[str, float] = {}

    def add(text: str, weight: float) -> None:
        for token in _tokenize(text):
            for key in token.keys:
                weights[key] = max(weights.get(key, 0.0), weight)

    add(" ".join(_words(profile.name)), _NAME)
    name_words = [w for w in _words(profile.name) if w not in _STOP]
    for first, second in zip(name_words, name_words[1:], strict=False):
        weights.setdefault(first[0] + second[0], _NAME)  # pull_requests -> "PRs"
    triggers = set(weights)  # free text keeps other words: descriptions share too many with what users write
    add(profile.description, _DESCRIPTION)
    triggers |= {key for token in _tokenize(profile.description) for key in token.keys if key in _CONCEPTS}
    for prop in props:
        add(" ".join(_words(prop.name)), _PROPERTY)
        triggers |= {key for token in _tokenize(" ".join(_words(prop.name))) for key in token.keys}
        add(str(prop.schema.get("description") or ""), _PROPERTY_DESCRIPTION)
        add(" ".join(str(v) for v in prop.schema.get("enum") or []), _PROPERTY)
        if prop.required and prop.kind in ("email", "url", "uuid", "date", "datetime"):
            weights[f"type:{prop.kind}"] = _EVIDENCE
        if prop.required and prop.kind == "pattern":
            weights[f"pattern:{prop.schema['pattern']}"] = _EVIDENCE
    profile.weights = weights
    profile.triggers = frozenset(triggers | _ACTIONS)
    return profile


def _named(text: str, prop: _Prop) -> tuple[str, tuple[int, int], int] | None:
    """`name: value`, `name is value` or `name "value"`: the value, its span and where the name starts."""
    name = r"[\s_-]*".join(map(re.escape, _words(prop.name)))
    quoted = r"\"([^\"\n]+)\"|“([^”\n]+)”|'([^'\n]+)'"
    pattern = rf"(?<![\w-]){name}\s*(?:(?:[:=]|\bis\b|\bwas\b)\s*(?:{quoted}|([^,;\n，。；]+))|(?:{quoted}))"
    match = re.search(pattern, text, re.IGNORECASE)
    if not match:
        return None
    for group in range(1, 8):
        if match.group(group):
            value = match.group(group).strip()
            end = match.start(group) + len(match.group(group).rstrip())
            if group == 4:  # unquoted: up to the clause end, without a sentence's final stop
                value = value.rstrip(".!?")
                end = match.start(group) + len(match.group(group).rstrip().rstrip(".!?"))
            return (value, (match.start(group), end), match.start()) if value else None
    return None

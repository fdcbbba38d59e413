"""OpenAPI imports: a document (OpenAPI 3.0 / 3.1, Swagger 2.0) becomes reviewed operations, and the
enabled ones a tool source."""

from __future__ import annotations

from loopdesk.tools.openapi.classify import classify
from loopdesk.tools.openapi.source import Credentials, OpenAPISource
from loopdesk.tools.openapi.spec import (
    Body,
    Operation,
    Param,
    ParsedSpec,
    SpecError,
    fetch_document,
    load_document,
    parse_operations,
)

__all__ = [
    "Body",
    "Credentials",
    "OpenAPISource",
    "Operation",
    "Param",
    "ParsedSpec",
    "SpecError",
    "classify",
    "fetch_document",
    "load_document",
    "parse_operations",
]

"""Three small real HTTP services a support agent acts on (e-commerce, SaaS billing, card services), each a
FastAPI app on its own SQLite file with its own OpenAPI document, imported through loopdesk's OpenAPI importer.

Writes honour `Idempotency-Key` and leave an audit row; `POST /_faults` makes an operation fail on purpose.
Neither that nor /healthz, /_audit and /_reset appear in the documents."""

from __future__ import annotations

from loopdesk.support.demo._app import BackendInfo
from loopdesk.support.demo.backends import BACKENDS, create_app, db_file, openapi_document, reset, seed
from loopdesk.support.demo.server import serve_backend, spawn

__all__ = [
    "BACKENDS",
    "BackendInfo",
    "create_app",
    "db_file",
    "openapi_document",
    "reset",
    "seed",
    "serve_backend",
    "spawn",
]

"""The demo backends by name, and what the lead's code does with one: its app, its document, its seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from loopdesk.support.demo import ecommerce, fintech, saas
from loopdesk.support.demo._app import Backend, BackendInfo, build_app

_BACKENDS: dict[str, Backend] = {b.info.name: b for b in (ecommerce.BACKEND, saas.BACKEND, fintech.BACKEND)}
BACKENDS: dict[str, BackendInfo] = {name: b.info for name, b in _BACKENDS.items()}


def backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"no demo backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def create_app(name: str, db_path: Path, *, server_url: str | None = None) -> FastAPI:
    """The backend's application on its SQLite file (created and seeded when missing)."""
    return build_app(backend(name), Path(db_path), server_url=server_url)


def openapi_document(name: str) -> dict[str, Any]:
    """The backend's OpenAPI document, without a database or a server."""
    return build_app(backend(name), None).openapi()


def seed(db_path: Path, name: str) -> None:
    """Create and seed the database unless it is seeded already."""
    backend(name).seed(Path(db_path))


def reset(db_path: Path, name: str) -> None:
    """Back to the seed: every change (and the audit trail) is dropped."""
    backend(name).seed(Path(db_path), reset=True)


def db_file(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / f"{name}.sqlite3"

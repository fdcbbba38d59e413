"""`loopdesk demo [ecommerce|saas|fintech]`: one demo backend on 127.0.0.1, in the foreground."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loopdesk.core.cli_support import settings_or_exit
from loopdesk.support.demo._db import opened
from loopdesk.support.demo.backends import BACKENDS, backend, db_file, reset, seed
from loopdesk.support.demo.server import LOCALHOST, serve_backend

console = Console(stderr=True, highlight=False)


class DemoName(StrEnum):
    ecommerce = "ecommerce"
    saas = "saas"
    fintech = "fintech"


def demo(
    name: Annotated[DemoName, typer.Argument(help="Which backend to start.")] = DemoName.ecommerce,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: 8101 ecommerce, 8102 saas, 8103 fintech).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where its SQLite file lives (default: LOOPDESK_DATA_DIR/demo).")
    ] = None,
    fresh: Annotated[bool, typer.Option("--reset", help="Drop every change and start from the seed again.")] = False,
) -> None:
    """Start a demo backend (a small real shop, SaaS billing or card service with its own SQLite data) on
    127.0.0.1, to import into loopdesk from its /openapi.json."""
    backend_name = name.value
    info = BACKENDS[backend_name]
    directory = data_dir if data_dir is not None else settings_or_exit(console).database.data_dir / "demo"
    db_path = db_file(directory, backend_name)
    if fresh:
        reset(db_path, backend_name)
    else:
        seed(db_path, backend_name)
    port = port or info.port
    url = f"http://{LOCALHOST}:{port}"
    table = Table(title=f"{info.title} ({backend_name})", show_header=False, title_justify="left")
    table.add_row("URL", url)
    table.add_row("OpenAPI", f"{url}/openapi.json")
    table.add_row("data", str(db_path))
    with opened(db_path) as conn:
        for key, value in backend(backend_name).highlights(conn):
            table.add_row(key, value)
    console.print(table)
    serve_backend(backend_name, LOCALHOST, port, db_path)

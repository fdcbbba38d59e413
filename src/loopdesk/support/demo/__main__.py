"""`python -m loopdesk.support.demo NAME [--host] [--port] [--db] [--reset]`: one demo backend, in the foreground
(what `spawn` starts; people use `loopdesk demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from loopdesk.support.demo.backends import BACKENDS, reset
from loopdesk.support.demo.server import LOCALHOST, serve_backend


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loopdesk.support.demo", description=__doc__)
    parser.add_argument("name", choices=sorted(BACKENDS))
    parser.add_argument("--host", default=LOCALHOST)
    parser.add_argument("--port", type=int, help="default: the backend's own (8101, 8102, 8103)")
    parser.add_argument("--db", type=Path, help="the SQLite file (default: .loopdesk/demo/NAME.sqlite3)")
    parser.add_argument("--reset", action="store_true", help="start from the seed again")
    parser.add_argument("--parent", type=int, help="exit when this process is gone (what `spawn` passes)")
    args = parser.parse_args(argv)
    if args.parent:
        _exit_with(args.parent)
    db_path = args.db or Path(".loopdesk") / "demo" / f"{args.name}.sqlite3"
    if args.reset:
        reset(db_path, args.name)
    serve_backend(args.name, args.host, args.port or BACKENDS[args.name].port, db_path)


def _exit_with(parent: int) -> None:
    """A child of `loopdesk serve` never outlives it, however the server ended (SIGKILL included)."""
    import os

    from loopdesk.core.children import when_parent_gone

    when_parent_gone(parent, lambda: os._exit(0))


if __name__ == "__main__":
    main()

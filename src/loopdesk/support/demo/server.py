"""A demo backend as a server: in this process (`serve_backend`, blocking), in this event loop (`serving`), or as
a child process that is ready when `spawn` returns (for `make run` and the tests)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from loopdesk.support.demo.backends import backend, create_app, db_file

LOCALHOST = "127.0.0.1"


def serve_backend(name: str, host: str, port: int, db_path: Path) -> None:
    import uvicorn

    application = create_app(name, db_path, server_url=f"http://{host}:{port}")
    uvicorn.run(application, host=host, port=port, server_header=False)


def spawn(name: str, port: int, data_dir: Path, *, reset: bool = False, timeout: float = 30.0) -> subprocess.Popen:
    """Start `python -m loopdesk.support.demo NAME` on 127.0.0.1:`port` and wait until /healthz answers.
    Its log goes to DATA_DIR/NAME.log; stop it with `terminate()`."""
    backend(name)  # an unknown name fails here, not in the child
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    command = [sys.executable, "-m", "loopdesk.support.demo", name, "--port", str(port)]
    command += ["--db", str(db_file(data_dir, name)), "--parent", str(os.getpid())] + (["--reset"] if reset else [])
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own module
    url = f"http://{LOCALHOST}:{port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"demo backend {name} exited with {process.returncode}: {_tail(log_path)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"demo backend {name} did not answer {url} within {timeout:g}s: {_tail(log_path)}")


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def serving(name: str, db_path: Path) -> AsyncIterator[str]:
    """A demo backend on a free loopback port in this event loop (tests, the task suite); yields its URL."""
    import asyncio

    import uvicorn

    config = uvicorn.Config(create_app(name, db_path), host="127.0.0.1", port=0, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            if task.done():
                task.result()  # the server failed to start: its error
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task

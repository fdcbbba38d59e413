"""The peers loopdesk's run path is measured against, each served by its own real process on 127.0.0.1:

- **official**: LangGraph's own server, `langgraph dev` (langgraph-api with the in-memory runtime);
- **aegra**: Aegra (PyPI `aegra-api`), an open-source Agent Protocol server on PostgreSQL.

Each is installed from the package index into its own venv under `benchmarks/.venvs/<name>` the first time it is
needed (a marker file records what was installed; a change of pins rebuilds the venv). Server logs go to
`benchmarks/results/<name>.log`, install logs to `benchmarks/results/<name>-install.log`."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common import free_port, wait_until_up
from rich.console import Console
from rich.markup import escape

from loopdesk.core.embedded import ensure_database

# The graph's own libraries are pinned to loopdesk's (constraints.txt) so every system runs the same graph code.
LANGGRAPH = ("langgraph==1.2.22", "langgraph-checkpoint==4.3.2")
OFFICIAL_REQUIREMENTS = (
    "langgraph-cli[inmem]==0.4.40",
    "langgraph-api==0.16.7",
    "langgraph-runtime-inmem==0.36.7",
    *LANGGRAPH,
)
AEGRA_REQUIREMENTS = (
    "aegra-api==0.10.4",
    "langgraph-checkpoint-postgres==3.2.0",
    "psycopg[binary]==3.3.9",
    "psycopg-pool==3.3.3",
    *LANGGRAPH,
)
AEGRA_MIN_PYTHON = (3, 12)  # aegra-api requires Python >= 3.12 since 0.7
AEGRA_DATABASE = "aegra_bench"

ROOT = Path(__file__).resolve().parent
VENVS = ROOT / ".venvs"
LOGS = ROOT / "results"
GRAPHS_DIR = ROOT / "graphs"
MARKER = ".bench-installed.json"
# What a peer must not inherit: tracing or analytics that would call out, or another server's database settings.
_DROPPED_ENV = ("DATABASE_URL", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT", "REDIS_URL")


def find_python(minimum: tuple[int, int]) -> str:
    """An interpreter of at least `minimum`, the oldest that fits: this one, a `python3.X` on PATH that runs, or
    a pyenv version."""
    if sys.version_info[:2] >= minimum:
        return sys.executable
    candidates = [shutil.which(f"python3.{minor}") for minor in range(minimum[1], 15)]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    pyenv = glob.glob(f"{pyenv_root}/versions/3.*/bin/python3")
    candidates += sorted(pyenv, key=lambda path: [int(x) for x in Path(path).parents[1].name.split(".") if x.isdigit()])
    check = f"import sys; sys.exit(sys.version_info[:2] < {minimum!r})"
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", check], capture_output=True, timeout=30).returncode == 0:
            return candidate  # a pyenv shim of a version that is not selected exits non-zero
    wanted = ".".join(map(str, minimum))
    raise RuntimeError(f"no Python >= {wanted} found (PATH, pyenv) for this peer's venv; leave it out with --peers")


def ensure_venv(console: Console, name: str, python: str, requirements: tuple[str, ...]) -> Path:
    """`benchmarks/.venvs/<name>` with `requirements` installed from the package index; built only when its marker
    is missing or records other pins. Returns the venv's python."""
    venv = VENVS / name
    bin_python = venv / "bin" / "python"
    marker = venv / MARKER
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("requirements") == list(requirements) and bin_python.exists():
            return bin_python
    shutil.rmtree(venv, ignore_errors=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}-install.log"
    with log_path.open("w") as log, console.status(f"[bold]{name}[/]: creating {venv}…") as status:
        subprocess.run([python, "-m", "venv", str(venv)], check=True, stdout=log, stderr=subprocess.STDOUT)
        command = [str(bin_python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
        pip = subprocess.Popen(
            [*command, *requirements], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert pip.stdout is not None
        for line in pip.stdout:
            log.write(line)
            if line.strip() and not line.startswith("WARNING: Location"):
                status.update(f"[bold]{name}[/]: pip install … {escape(line.strip()[:100])}")
        if pip.wait() != 0:
            raise RuntimeError(f"installing {name} failed: see {log_path}")
        freeze = subprocess.run([str(bin_python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
    marker.write_text(json.dumps({"requirements": list(requirements), "freeze": freeze.stdout.split()}, indent=1))
    console.print(escape(f"{name}: installed into {venv} ({', '.join(requirements)})"))
    return bin_python


def installed(name: str) -> dict:
    """What a peer's venv holds: its pins, its Python and its resolved packages."""
    venv = VENVS / name
    recorded = json.loads((venv / MARKER).read_text())
    python = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {"python": python, **recorded}


def install_official(console: Console) -> Path:
    return ensure_venv(console, "official", sys.executable, OFFICIAL_REQUIREMENTS)


def install_aegra(console: Console) -> Path:
    return ensure_venv(console, "aegra", find_python(AEGRA_MIN_PYTHON), AEGRA_REQUIREMENTS)


@contextmanager
def _serving(
    console: Console, name: str, command: list[str], env: dict[str, str], cwd: Path, health: str
) -> Iterator[None]:
    """Run `command` in its own process group, its output in `benchmarks/results/<name>.log`, until `health`
    answers; on the way out (error and Ctrl-C included) terminate the group, then kill it."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            with console.status(f"starting {name} (log: {log_path})…"):
                wait_until_up(health, process, seconds=180)
            yield
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)  # the group this process leads: only what it started
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _peer_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    return {**env, "LANGSMITH_TRACING": "false", "LANGCHAIN_TRACING_V2": "false", **settings}


@contextmanager
def served_official(console: Console, *, jobs: int = 50, graphs: Path = GRAPHS_DIR) -> Iterator[tuple[str, dict]]:
    """`langgraph dev` (in-memory runtime, no reload, no auth) serving `graphs/one_node.py` with `jobs` concurrent
    runs; yields (base URL, headers). It runs in a temporary directory (it writes `.langgraph_api/` there) from a
    config that adds the `dependencies` key its CLI requires."""
    python = install_official(console)
    workdir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-official-"))
    graph_specs = json.loads((graphs / "langgraph.json").read_text())["graphs"]
    config = {
        "dependencies": [str(graphs)],
        "graphs": {graph_id: str((graphs / spec).resolve()) for graph_id, spec in graph_specs.items()},
    }
    (workdir / "langgraph.json").write_text(json.dumps(config))
    port = free_port()
    command = [
        str(python.parent / "langgraph"),
        "dev",
        "--no-browser",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n-jobs-per-worker",
        str(jobs),
        "--server-log-level",
        "WARNING",
        "--config",
        str(workdir / "langgraph.json"),
    ]
    env = _peer_env(LANGGRAPH_CLI_NO_ANALYTICS="1", LANGGRAPH_AUTH_TYPE="noop")
    base = f"http://127.0.0.1:{port}"
    try:
        with _serving(console, "official", command, env, workdir, f"{base}/ok"):
            yield base, {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def served_aegra(console: Console, database_url: str, *, graphs: Path = GRAPHS_DIR) -> Iterator[tuple[str, dict]]:
    """Aegra (`uvicorn aegra_api.main:app`, what `aegra serve` runs) on its own database `aegra_bench` of the
    PostgreSQL server behind `database_url`, migrated by Aegra at start-up; no-op auth, in-process executor (no
    Redis); yields (base URL, headers)."""
    python = install_aegra(console)
    parts = urlsplit(database_url)
    ensure_database(urlunsplit(parts._replace(path="/postgres")), AEGRA_DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="loopdesk-bench-aegra-"))  # no stray .env or aegra.json in its cwd
    port = free_port()
    env = _peer_env(
        DATABASE_URL=urlunsplit(parts._replace(path=f"/{AEGRA_DATABASE}")),
        AEGRA_CONFIG=str(graphs / "langgraph.json"),
        AUTH_TYPE="noop",
        RUN_MIGRATIONS_ON_STARTUP="true",
        REDIS_BROKER_ENABLED="false",
        LOG_LEVEL="WARNING",
        ENV_MODE="LOCAL",
    )
    command = [str(python), "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    try:
        with _serving(console, "aegra", command, env, workdir, f"{base}/health"):
            yield base, {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

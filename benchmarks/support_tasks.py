"""`make eval`: the support task suite (loopdesk/support/suite) against the three demo backends, with the model
configured by LOOPDESK_LLM_* (a real provider when set; the offline model otherwise), printing a pass rate per
scenario over `--trials` runs and writing benchmarks/results/support_tasks.json.

Everything is real but the model's host: an embedded PostgreSQL, the loopdesk app in this process, the demo
backends as HTTP servers on 127.0.0.1, the templates applied through the OpenAPI importer."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import httpx
import typer
from asgi_lifespan import LifespanManager
from common import bench_database
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from loopdesk.app import create_app
from loopdesk.core.settings import Settings
from loopdesk.support.demo.server import serving
from loopdesk.support.suite.runner import Backend, Outcome, SuiteRunner
from loopdesk.support.suite.scenarios import SCENARIOS
from loopdesk.support.templates.apply import apply_template
from loopdesk.users.models import User

RESULTS = Path(__file__).parent / "results" / "support_tasks.json"
ADMIN_EMAIL, PASSWORD = "eval-admin@example.com", "eval-password-123"
console = Console()


async def _account(client: httpx.AsyncClient, name: str, admin_token: str | None, role: str) -> dict[str, str]:
    email = f"{name}@example.com"
    created = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    created.raise_for_status()
    if role != "customer":
        patched = await client.patch(
            f"/api/v1/users/{created.json()['id']}", json={"role": role}, headers=_bearer(admin_token)
        )
        patched.raise_for_status()
    return _bearer(await _login(client, email, PASSWORD))


async def _login(client: httpx.AsyncClient, email: str, password: str) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return response.json()["access_token"]


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _evaluate(root: Path, templates: list[str], trials: int) -> tuple[dict[str, list[Outcome]], str]:
    settings = Settings()  # LOOPDESK_LLM_* from the environment: the model under test
    settings.database.database_url = SecretStr(bench_database(root / "pg"))
    settings.database.data_dir = root / "data"
    settings.database.migrate_on_start = False
    settings.auth.admin_email, settings.auth.admin_password = ADMIN_EMAIL, SecretStr(PASSWORD)
    settings.auth.register_limit_per_ip = "1000/hour"
    settings.outbound.net_allowlist = "127.0.0.1"  # the demo backends
    model = settings.llm.llm_provider or "offline"
    app = create_app(settings)
    outcomes: dict[str, list[Outcome]] = defaultdict(list)
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://loopdesk", timeout=120) as client:
            admin_token = await _login(client, ADMIN_EMAIL, PASSWORD)
            customer = await _account(client, "eval-customer", admin_token, "customer")
            staff = await _account(client, "eval-staff", admin_token, "staff")
            async with app.state.database.sessionmaker() as session:
                admin = await session.scalar(select(User).where(User.email == ADMIN_EMAIL))
            chosen = [s for s in SCENARIOS if s.template in templates]
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("scenarios", total=len(chosen) * trials)
                for template in templates:
                    db = root / f"{template}.sqlite3"
                    async with serving(template, db) as url:
                        progress.update(task, description=f"applying the {template} template")
                        await apply_template(
                            template, runtime=app.state.tools, graphs=app.state.graphs, admin=admin, base_url=url
                        )
                        runner = SuiteRunner(
                            client, customer=customer, staff=staff, backends={template: Backend(url, db)}
                        )
                        for scenario in (s for s in chosen if s.template == template):
                            progress.update(task, description=scenario.name)
                            for _ in range(trials):
                                outcomes[scenario.name].append(await runner.run(scenario))
                                progress.advance(task)
    return outcomes, model


def main(
    trials: Annotated[int, typer.Option(min=1, max=20, help="runs of each scenario (a real model varies)")] = 1,
    template: Annotated[list[str] | None, typer.Option(help="only these templates (repeatable)")] = None,
) -> None:
    templates = template or ["ecommerce", "saas", "fintech"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loopdesk-eval-") as tmp:
        outcomes, model = asyncio.run(_evaluate(Path(tmp), templates, trials))
    table = Table(title=f"support task suite, model: {model}, {trials} trial(s) per scenario")
    for column in ("template", "scenario", "passed", "rate", "s / run", "first problem"):
        table.add_column(column)
    rows, passed_total, runs_total = [], 0, 0
    for scenario in (s for s in SCENARIOS if s.name in outcomes):
        runs = outcomes[scenario.name]
        passed = sum(o.passed for o in runs)
        passed_total, runs_total = passed_total + passed, runs_total + len(runs)
        problem = next((o.problems[0] for o in runs if o.problems), "")
        seconds = sum(o.seconds for o in runs) / len(runs)
        table.add_row(
            scenario.template, scenario.name, f"{passed}/{len(runs)}", f"{passed / len(runs):.0%}",
            f"{seconds:.1f}", problem[:80],
        )  # fmt: skip
        rows.append({
            "template": scenario.template, "scenario": scenario.name, "passed": passed, "runs": len(runs),
            "seconds_per_run": round(seconds, 2), "problems": sorted({p for o in runs for p in o.problems}),
        })  # fmt: skip
    console.print(table)
    rate = passed_total / runs_total if runs_total else 0.0
    console.print(f"pass rate {passed_total}/{runs_total} = {rate:.1%} ({time.monotonic() - started:.0f} s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    summary = {"model": model, "trials": trials, "passed": passed_total, "runs": runs_total, "scenarios": rows}
    RESULTS.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if rate < 1.0:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)

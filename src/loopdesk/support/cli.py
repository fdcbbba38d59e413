"""`loopdesk templates`: the vertical support templates (e-commerce, SaaS, fintech) listed and applied."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from loopdesk.core.cli_support import settings_or_exit
from loopdesk.core.settings import Settings

app = typer.Typer(help="Vertical support templates: agents, intents, API import, approval policy.",
                  no_args_is_help=True, add_completion=False)  # fmt: skip
console = Console(stderr=True, highlight=False)


@app.callback()
def main() -> None:
    """Support templates (mounted as `loopdesk templates`). Configuration from LOOPDESK_* as for `serve`."""


@app.command("list")
def list_templates() -> None:
    """The templates and the demo backend each acts on."""
    from loopdesk.support.demo.backends import BACKENDS
    from loopdesk.support.templates.apply import TEMPLATES, load_template

    table = Table("template", "what", "backend", "default URL")
    for name in TEMPLATES:
        template = load_template(name)
        info = BACKENDS[template.backend]
        table.add_row(name, template.title, template.backend, f"http://127.0.0.1:{info.port}")
    Console().print(table)


@app.command()
def apply(
    name: Annotated[str, typer.Argument(help="ecommerce, saas or fintech")],
    base_url: Annotated[
        str | None,
        typer.Option(help="Where the backend's API answers (default: the demo backend, http://127.0.0.1:<its port>)."),
    ] = None,
    admin: Annotated[
        str | None, typer.Option(help="E-mail of the admin who imports and approves (default: the first admin).")
    ] = None,
) -> None:
    """Wire a template in one step: train its intent model, import its backend's OpenAPI document (parsed,
    classified, approved: reads run, writes wait for a person), set its approval policy and put its agents in
    force. Safe to run again. Prints what it did as JSON on stdout."""
    from loopdesk.support.demo.backends import BACKENDS
    from loopdesk.support.templates.apply import TEMPLATES, load_template

    if name not in TEMPLATES:
        raise typer.BadParameter(f"choose one of {', '.join(TEMPLATES)}", param_hint="NAME")
    settings = settings_or_exit(console)
    template = load_template(name)
    url = base_url or f"http://127.0.0.1:{BACKENDS[template.backend].port}"
    print(json.dumps(asyncio.run(_apply(settings, name, url, admin)), indent=2))


async def _apply(settings: Settings, name: str, base_url: str, admin_email: str | None) -> dict:
    from loopdesk.app import create_app
    from loopdesk.support.agents import AgentsConfigError
    from loopdesk.support.templates.apply import TemplateError, apply_template, describe
    from loopdesk.users.repository import UserRepository

    settings.runtime.worker = False
    settings.feedback.demo_seed = False
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        state = application.state
        async with state.database.sessionmaker() as session:
            people = await UserRepository(session).staff_members()
        chosen = next((p for p in people if p.role == "admin" and admin_email in (None, p.email)), None)
        if chosen is None:
            console.print(f"[red]no active admin {admin_email or ''}: create one with `loopdesk users create-admin`[/]")
            raise typer.Exit(1)
        try:
            with console.status(f"applying the {name} template…") as status:
                applied = await apply_template(
                    name,
                    runtime=state.tools,
                    graphs=state.graphs,
                    admin=chosen,
                    base_url=base_url,
                    progress=lambda text: status.update(text + "…"),
                )
        except (TemplateError, AgentsConfigError) as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None
    console.print(f"[green]template {name} applied[/]: {len(applied.tools)} tools, agents {', '.join(applied.agents)}")
    return describe(applied)

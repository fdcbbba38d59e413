"""The task suite with the offline model: every scripted customer of a template, against its real demo backend,
judged by the backend's database (loopdesk/support/suite). One server per template: the agent set in force is
the template's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from loopdesk.core.settings import Settings
from loopdesk.support.demo.server import serving
from loopdesk.support.suite.runner import Backend, SuiteRunner
from loopdesk.support.suite.scenarios import SCENARIOS, Decide, Fault, Say
from loopdesk.support.templates.apply import apply_template, load_template, train_intents
from loopdesk.users.models import User
from tests.conftest import ADMIN_EMAIL

TEMPLATES = ("ecommerce", "saas", "fintech")


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("suite-intents")
    for name in TEMPLATES:
        train_intents(load_template(name), root / name, lambda _: None)
    return root


@pytest.fixture
def settings(settings: Settings, trained_models: Path) -> Settings:
    settings.outbound.net_allowlist = "127.0.0.1"  # the demo backends
    shutil.copytree(trained_models, settings.database.data_dir / "intents")
    return settings


def test_the_suite_covers_what_the_issue_names():
    """20+ scenarios across the three templates, with each kind of step and outcome the suite is meant to prove."""
    assert len(SCENARIOS) >= 20
    assert {s.template for s in SCENARIOS} == set(TEMPLATES)
    steps = [step for s in SCENARIOS for step in s.steps]
    assert any(isinstance(step, Fault) for step in steps)
    assert any(isinstance(step, Decide) and step.by == "customer" for step in steps)
    assert any(isinstance(step, Decide) and not step.allowed for step in steps)
    assert any(s.escalated for s in SCENARIOS) and any(s.tools_called is False for s in SCENARIOS)
    assert any(sum(isinstance(step, Say) for step in s.steps) > 1 for s in SCENARIOS)  # a mind changed mid-approval
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("template", TEMPLATES)
async def test_every_scenario_leaves_the_backend_as_expected(app, client, make_account, tmp_path, template):
    customer = await make_account("customer")
    staff = await make_account("staff", role="staff")
    async with app.state.database.sessionmaker() as session:
        admin = await session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    db = tmp_path / f"{template}.sqlite3"
    async with serving(template, db) as url:
        await apply_template(template, runtime=app.state.tools, graphs=app.state.graphs, admin=admin, base_url=url)
        runner = SuiteRunner(
            client, customer=customer.headers, staff=staff.headers, backends={template: Backend(url, db)}
        )
        outcomes = [await runner.run(s) for s in SCENARIOS if s.template == template]
    failed = {o.scenario.name: o.problems for o in outcomes if not o.passed}
    assert not failed, failed

import contextlib
import json
import os
import re

import httpx
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.pregel import Pregel
from langgraph.store.memory import InMemoryStore
from langgraph_sdk import get_client
from langgraph_sdk.runtime import ServerRuntime
from typing_extensions import TypedDict

from loopdesk.runtime.config import ConfigFileError, load_config
from loopdesk.runtime.graphs import GraphLoadError, GraphRegistry, default_assistant_id, runtime_user
from tests.conftest import TEST_GRAPHS, assert_error

PARTLY_BROKEN = TEST_GRAPHS.parent / "partly_broken.json"


@pytest.fixture
def settings(settings, request):
    """`@pytest.mark.parametrize("settings", [path], indirect=True)` serves another langgraph.json."""
    if hasattr(request, "param"):
        settings.runtime.graphs_config = request.param
    return settings


def sdk(server_url: str, account):
    return get_client(url=server_url, api_key=None, headers=account.headers)


class Said(TypedDict):
    said: str


def _saying(text: str) -> StateGraph:
    graph = StateGraph(Said)
    graph.add_node("say", lambda state: {"said": text})
    graph.add_edge(START, "say")
    return graph


async def _said(registry: GraphRegistry, graph_id: str, **open_options) -> str:
    async with registry.get(graph_id).open(access="threads.create_run", **open_options) as graph:
        return (await graph.ainvoke({"said": ""}))["said"]


async def test_a_langgraph_json_registers_files_modules_and_factories():
    registry = GraphRegistry()
    registry.load_config(load_config(TEST_GRAPHS))
    assert set(registry.graphs) == set(json.loads(TEST_GRAPHS.read_text())["graphs"]) and not registry.unavailable
    async with registry.get("echo").open(access="assistants.read") as graph:
        assert isinstance(graph, Pregel)
    factory = registry.get("configurable")
    assert factory.is_factory and factory.parameters == {"config": "config"}
    async with factory.open({"configurable": {"prefix": "x"}}, access="threads.read") as graph:
        assert isinstance(graph, Pregel) and graph.name == "configurable"
    assert registry.get("opened").parameters == {"config": "config", "runtime": "runtime"}
    assert os.environ["LOOPDESK_TEST_GRAPH_ENV"] == "from-langgraph-json"


async def test_graphs_named_in_one_file_share_one_execution_of_it(tmp_path):
    (tmp_path / "pair.py").write_text(
        (TEST_GRAPHS.parent / "echo.py").read_text()
        + "\nimport builtins\nbuiltins.loopdesk_pair_loads = getattr(builtins, 'loopdesk_pair_loads', 0) + 1\n"
        + "SHARED = object()\nfirst = graph\nsecond = graph\n"
    )
    (tmp_path / "langgraph.json").write_text(json.dumps({"graphs": {"a": "./pair.py:first", "b": "./pair.py:second"}}))
    import builtins

    builtins.loopdesk_pair_loads = 0
    registry = GraphRegistry()
    registry.load_config(load_config(tmp_path / "langgraph.json"))
    assert builtins.loopdesk_pair_loads == 1  # module-level state is the same for both graphs
    async with (
        registry.get("a").open(access="assistants.read") as a,
        registry.get("b").open(access="threads.read") as b,
    ):
        assert a is not None and b is not None
    del builtins.loopdesk_pair_loads


def _no_argument():
    return _saying("no argument")


def _config_only(config: RunnableConfig):
    return _saying(f"config {config['configurable']['tone']}")


def _runtime_only(runtime: ServerRuntime):
    return _saying(f"runtime {runtime.access_context}")


def _runtime_first(runtime: ServerRuntime, config: RunnableConfig):
    return _saying(f"runtime {runtime.access_context}, config {config['configurable']['tone']}")


def _runtime_by_name(config, runtime):
    return _saying(f"named runtime {runtime.access_context}")


async def _async_factory(config: RunnableConfig, runtime: ServerRuntime):
    return _saying(f"async {runtime.execution_runtime.context['tone']}").compile()


@contextlib.contextmanager
def _sync_context_manager():
    yield _saying("sync context manager")


@pytest.mark.parametrize(
    ("factory", "said"),
    [
        (_no_argument, "no argument"),
        (_config_only, "config warm"),
        (_runtime_only, "runtime threads.create_run"),
        (_runtime_first, "runtime threads.create_run, config warm"),
        (_runtime_by_name, "named runtime threads.create_run"),
        (_async_factory, "async dry"),
        (_sync_context_manager, "sync context manager"),
    ],
)
async def test_every_factory_form_the_langgraph_server_takes_is_called_with_what_it_asks_for(factory, said):
    registry = GraphRegistry()
    registry.register("g", factory)
    config = {"configurable": {"tone": "warm"}}
    assert await _said(registry, "g", config=config, context={"tone": "dry"}) == said


async def test_a_context_manager_factory_is_entered_and_exited_for_each_use_with_its_runtime():
    uses: list[tuple] = []

    @contextlib.asynccontextmanager
    async def factory(config: RunnableConfig, runtime: ServerRuntime):
        execution = runtime.execution_runtime
        uses.append(
            ("enter", runtime.access_context, runtime.user.identity, runtime.store, execution and execution.context)
        )
        yield _saying("opened")
        uses.append(("exit", runtime.access_context))

    registry = GraphRegistry()
    registry.register("g", factory)
    store, user = InMemoryStore(), runtime_user("u-1")
    context = {"tone": "warm"}
    async with registry.get("g").open(access="threads.create_run", store=store, user=user, context=context) as graph:
        assert uses == [("enter", "threads.create_run", "u-1", store, {"tone": "warm"})]
        assert graph.store is store and graph.name == "g"
    assert uses[-1] == ("exit", "threads.create_run")
    async with registry.get("g").open(access="threads.read", user=user):
        assert uses[-1] == ("enter", "threads.read", "u-1", None, None)  # only a run gets the context
    assert uses[-1] == ("exit", "threads.read") and len(uses) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"graphs": {"g": "no-colon"}}', "expected './path.py:attribute'"),
    ],
)
def test_a_bad_langgraph_json_is_reported_with_the_cause(tmp_path, content, message):
    path = tmp_path / "langgraph.json"
    path.write_text(content)
    with pytest.raises((ConfigFileError, GraphLoadError), match=message):
        GraphRegistry().load_config(load_config(path))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("./missing.py:graph", "not found"),
        ("./echo.py:nothing", "no attribute 'nothing'"),
        ("json:dumps", "graph factory 'g' .* it must take no argument, a config, a runtime, or both"),
        ("./two.py:graph", "exactly one must be the runtime"),
        ("./broken.py:graph", "ZeroDivisionError"),
    ],
)
def test_a_graph_that_fails_to_load_is_unavailable_with_the_cause_and_the_others_are_served(tmp_path, spec, message):
    (tmp_path / "echo.py").write_text((TEST_GRAPHS.parent / "echo.py").read_text())
    (tmp_path / "broken.py").write_text("graph = 1 / 0\n")
    (tmp_path / "two.py").write_text("def graph(config, other):\n    pass\n")
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": {"g": spec, "fine": "./echo.py:graph"}}))
    registry = GraphRegistry()
    registry.load_config(load_config(path))
    assert set(registry.graphs) == {"fine"} and registry.get("g") is None
    assert set(registry.unavailable) == {"g"}
    assert re.search(message, registry.unavailable["g"]), registry.unavailable["g"]


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match="not found"):
        load_config(tmp_path / "nope.json")
    assert json.loads(TEST_GRAPHS.read_text())["graphs"]


async def test_a_run_without_context_gets_the_context_schemas_defaults_filled_from_configurable(
    server_url, make_account
):
    client = sdk(server_url, await make_account("tess"))
    thread = (await client.threads.create())["thread_id"]
    said = [
        await client.runs.wait(thread, "toned", input={"messages": ["hi"]}),
        await client.runs.wait(thread, "toned", input={"messages": ["hi"]}, config={"configurable": {"tone": "warm"}}),
        await client.runs.wait(thread, "toned", input={"messages": ["hi"]}, context={"tone": "dry"}),
    ]
    assert [s["messages"][-1] for s in said] == ["plain: hi.", "warm: hi.", "dry: hi."]
    assistant = await client.assistants.create("toned", context={"punctuation": "!"})
    merged = await client.runs.wait(
        None, assistant["assistant_id"], input={"messages": ["hi"]}, config={"configurable": {"tone": "warm"}}
    )
    assert merged["messages"][-1] == "warm: hi!"  # the assistant's context, overlaid with the run's configurable


async def test_a_server_runtime_factory_is_served_and_opened_with_the_runs_context_and_caller(server_url, make_account):
    account = await make_account("fay")
    client = sdk(server_url, account)
    thread = (await client.threads.create())["thread_id"]
    values = await client.runs.wait(thread, "opened", input={"messages": []}, context={"tone": "warm"})
    assert values["messages"] == [f"threads.create_run by {account.id}, context {{'tone': 'warm'}}"]
    state = await client.threads.get_state(thread)
    assert state["values"] == values
    schemas = await client.assistants.get_schemas("opened")
    assert schemas["graph_id"] == "opened" and schemas["input_schema"]["properties"]["messages"]


@pytest.mark.parametrize("settings", [PARTLY_BROKEN], indirect=True)
async def test_graphs_that_fail_to_load_are_reported_unavailable_and_the_rest_are_served(
    server_url, make_account, client: httpx.AsyncClient
):
    account = await make_account("ida")
    sdk_client = sdk(server_url, account)
    info = (await client.get("/info", headers=account.headers)).json()
    assert info["unavailable_graphs"] == ["crashes", "missing", "too_many_arguments"]
    assert info["graphs"] == ["agent", "echo", "support"]
    assert (await sdk_client.runs.wait(None, "echo", input={"messages": ["hi"]}))["messages"][-1] == "echo: hi"
    assistants = {a["graph_id"]: a for a in await sdk_client.assistants.search(limit=100)}
    assert assistants["crashes"]["assistant_id"] == str(default_assistant_id("crashes"))
    run = await client.post("/runs/wait", json={"assistant_id": "crashes", "input": {}}, headers=account.headers)
    assert_error(run, 424, "graph_unavailable")
    schemas = await client.get(f"/assistants/{default_assistant_id('missing')}/schemas", headers=account.headers)
    assert_error(schemas, 424, "graph_unavailable")
    assert schemas.json()["error"]["detail"] == {"graph_id": "missing"}

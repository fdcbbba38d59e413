import json
import os

import pytest
from langgraph.pregel import Pregel

from loopdesk.runtime.config import ConfigFileError, load_config
from loopdesk.runtime.graphs import GraphLoadError, GraphRegistry
from tests.conftest import TEST_GRAPHS


def test_a_langgraph_json_registers_files_modules_and_factories():
    registry = GraphRegistry()
    registry.load_config(load_config(TEST_GRAPHS))
    assert set(registry.graphs) == set(json.loads(TEST_GRAPHS.read_text())["graphs"])
    assert isinstance(registry.get("echo").build(), Pregel)
    factory = registry.get("configurable")
    assert factory.is_factory and factory.takes_config
    assert isinstance(factory.build({"configurable": {"prefix": "x"}}), Pregel)
    assert os.environ["LOOPDESK_TEST_GRAPH_ENV"] == "from-langgraph-json"


def test_graphs_named_in_one_file_share_one_execution_of_it(tmp_path):
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
    assert registry.get("a").build() is not None and registry.get("b").build() is not None
    del builtins.loopdesk_pair_loads


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"graphs": {"g": "no-colon"}}', "expected './path.py:attribute'"),
        ('{"graphs": {"g": "./missing.py:graph"}}', "not found"),
        ('{"graphs": {"g": "./echo.py:nothing"}}', "no attribute 'nothing'"),
        ('{"graphs": {"g": "json:dumps"}}', "graph factory"),
        ('{"graphs": {"g": "./broken.py:graph"}}', "ZeroDivisionError"),
    ],
)
def test_a_bad_langgraph_json_is_reported_with_the_cause(tmp_path, content, message):
    (tmp_path / "echo.py").write_text((TEST_GRAPHS.parent / "echo.py").read_text())
    (tmp_path / "broken.py").write_text("graph = 1 / 0\n")
    path = tmp_path / "langgraph.json"
    path.write_text(content)
    with pytest.raises((ConfigFileError, GraphLoadError), match=message):
        GraphRegistry().load_config(load_config(path))


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigFileError, match="not found"):
        load_config(tmp_path / "nope.json")
    assert json.loads(TEST_GRAPHS.read_text())["graphs"]

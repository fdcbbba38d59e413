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

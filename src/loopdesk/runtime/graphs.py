"""The graph registry: built-in graphs and those a `langgraph.json` names, each with a default
assistant whose id is derived from the graph id (as the LangGraph server does), so the graph id
can stand for that assistant anywhere an assistant id is accepted."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from pydantic import create_model

from loopdesk.core.imports import exec_file
from loopdesk.runtime.config import ConfigFileError, LanggraphConfig

log = structlog.get_logger("loopdesk.graphs")

# The namespace the LangGraph server derives default assistant ids from: ids match across servers.
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

GraphValue = Pregel | StateGraph | Callable[..., Any]


def default_assistant_id(graph_id: str) -> uuid.UUID:
    return uuid.uuid5(ASSISTANT_NAMESPACE, graph_id)


class GraphLoadError(ConfigFileError):
    pass


@dataclass
class RegisteredGraph:
    graph_id: str
    value: GraphValue
    source: str
    takes_config: bool = False
    # What a caller may set per run (runtime/caller_settings.py); None: read from the graph's schemas.
    declared_caller_settings: frozenset[str] | None = None

    def caller_settings(self) -> frozenset[str] | None:
        """Keys a run's `configurable` / `context` may carry: declared at registration, else the fields of the
        graph's context and config schemas; None when the graph declares none (a factory, or no schema)."""
        if self.declared_caller_settings is not None:
            return self.declared_caller_settings
        if self.is_factory:
            return None
        graph = self.value.builder if isinstance(self.value, Pregel) and self.value.builder else self.value
        names: set[str] = set()
        for schema in (getattr(graph, "context_schema", None), getattr(graph, "config_schema", None)):
            names |= _field_names(schema)
        return frozenset(names) or None

    @property
    def is_factory(self) -> bool:
        return not isinstance(value := self.value, Pregel | StateGraph) and callable(value)

    def build(self, config: dict[str, Any] | None = None, **update: Any) -> Pregel:
        """The runnable graph; a factory is called per build (with the config if it takes one)."""
        value = self.value
        if self.is_factory:
            value = value(config or {}) if self.takes_config else value()
        if isinstance(value, StateGraph):
            value = value.compile()
        if not isinstance(value, Pregel):
            raise GraphLoadError(f"graph {self.graph_id!r} ({self.source}) did not produce a LangGraph graph")
        if value.name == "LangGraph":
            update.setdefault("name", self.graph_id)
        return value.copy(update=update) if update else value


@dataclass
class GraphRegistry:
    graphs: dict[str, RegisteredGraph] = field(default_factory=dict)
    # langgraph.json `store.index` with `embed` resolved (a function, or a "provider:model" string).
    store_index: dict[str, Any] | None = None
    # langgraph.json `auth.path`: a langgraph_sdk.auth.Auth object (see runtime/custom_auth.py).
    custom_auth: Any = None

    def register(
        self,
        graph_id: str,
        value: GraphValue,
        *,
        source: str = "built-in",
        caller_settings: frozenset[str] | None = None,
    ) -> None:
        takes_config = False
        if not isinstance(value, Pregel | StateGraph):
            if not callable(value):
                raise GraphLoadError(f"graph {graph_id!r} ({source}) is neither a graph nor a graph factory")
            parameters = inspect.signature(value).parameters
            if len(parameters) > 1:
                raise GraphLoadError(f"graph factory {graph_id!r} ({source}) must take no argument or one config")
            takes_config = len(parameters) == 1
        self.graphs[graph_id] = RegisteredGraph(graph_id, value, source, takes_config, caller_settings)

    def get(self, graph_id: str) -> RegisteredGraph | None:
        return self.graphs.get(graph_id)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self.graphs

    def load_config(self, config: LanggraphConfig) -> None:
        config.apply_environment()
        modules: dict[Path, ModuleType] = {}  # a file naming several graphs is executed once: they share it
        for graph_id, spec in config.graphs.items():
            self.register(graph_id, _import_spec(spec, config.base_dir, modules), source=spec)
            log.info("graphs.registered", graph_id=graph_id, source=spec)
        if config.store is not None and config.store.index:
            self.store_index = _store_index(config.store.index, config.base_dir)
        if config.auth is not None and config.auth.path:
            from langgraph_sdk.auth import Auth

            from loopdesk.runtime.custom_auth import CustomAuth

            auth = _import_spec(config.auth.path, config.base_dir, modules)
            if not isinstance(auth, Auth):
                raise GraphLoadError(f"auth.path {config.auth.path!r} is not a langgraph_sdk.auth.Auth object")
            self.custom_auth = CustomAuth(auth)
            log.info("graphs.custom_auth", source=config.auth.path)


def _store_index(index: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """`store.index` of langgraph.json: `dims`, `embed` (a "./file.py:function" / "module:function" path, or
    a LangChain "provider:model" name), optional `fields`."""
    dims, embed = index.get("dims"), index.get("embed")
    if not isinstance(dims, int) or not 1 <= dims <= 16000:
        raise GraphLoadError("store.index.dims must be an integer from 1 to 16000")
    if not isinstance(embed, str) or ":" not in embed:
        raise GraphLoadError("store.index.embed must be './file.py:function', 'module:function' or 'provider:model'")
    target = embed.rpartition(":")[0]
    resolved: Any = embed
    if target.endswith(".py") or "/" in target:
        resolved = _import_spec(embed, base_dir)
    elif importlib.util.find_spec(target.split(".")[0]) is not None:
        resolved = _import_spec(embed, base_dir)
    if not isinstance(resolved, str) and not callable(resolved) and not hasattr(resolved, "embed_documents"):
        raise GraphLoadError(f"store.index.embed {embed!r} is not a function or an Embeddings object")
    return {**index, "embed": resolved}


def _import_spec(spec: str, base_dir: Path, modules: dict[Path, ModuleType] | None = None) -> GraphValue:
    """The object a `./file.py:name` or `package.module:name` spec names; `modules` holds the files this
    configuration already executed."""
    target, _, attribute = spec.rpartition(":")
    modules = {} if modules is None else modules
    try:
        if target.endswith(".py") or "/" in target:
            path = (base_dir / target).resolve()
            if not path.exists():
                raise GraphLoadError(f"graph file {path} not found (from {spec!r})")
            module = modules.get(path)
            if module is None:
                module = exec_file(path, f"loopdesk_user_graph_{uuid.uuid5(ASSISTANT_NAMESPACE, str(path)).hex}")
                modules[path] = module
        else:
            module = importlib.import_module(target)
    except GraphLoadError:
        raise
    except Exception as exc:  # the user's module failed to import: say which and why
        raise GraphLoadError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise GraphLoadError(f"{spec!r}: module has no attribute {attribute!r}") from None


def _field_names(schema: Any) -> set[str]:
    """Field names of a dataclass, TypedDict or pydantic model (the forms a LangGraph schema takes)."""
    if schema is None or not isinstance(schema, type):
        return set()
    if dataclasses.is_dataclass(schema):
        return {f.name for f in dataclasses.fields(schema)}
    if hasattr(schema, "model_fields"):
        return set(schema.model_fields)
    return set(getattr(schema, "__annotations__", {}))


def state_jsonschema(graph: Pregel) -> dict[str, Any] | None:
    """JSON schema of the state a thread of this graph holds (its stream channels)."""
    channels = graph.stream_channels_asis
    names = [channels] if isinstance(channels, str) else list(channels)
    fields: dict[str, Any] = {}
    for name in names:
        channel = graph.channels.get(name)
        if channel is None:
            continue
        try:
            fields[name] = (channel.ValueType | None, None)
        except Exception:  # noqa: BLE001 - a channel without a usable type is described as "any"
            fields[name] = (Any, None)
    try:
        model = create_model(graph.get_name("State"), __config__={"arbitrary_types_allowed": True}, **fields)
        return model.model_json_schema()
    except Exception:  # noqa: BLE001 - types pydantic cannot describe: no schema rather than an error
        return None


def graph_schemas(graph_id: str, graph: Pregel) -> dict[str, Any]:
    def safe(call: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        try:
            with warnings.catch_warnings():  # config schemas are deprecated upstream, still served
                warnings.simplefilter("ignore")
                return call()
        except Exception:  # noqa: BLE001 - same as above
            return None

    return {
        "graph_id": graph_id,
        "input_schema": safe(graph.get_input_jsonschema),
        "output_schema": safe(graph.get_output_jsonschema),
        "state_schema": state_jsonschema(graph),
        "config_schema": safe(graph.get_config_jsonschema),
        "context_schema": safe(graph.get_context_jsonschema),
    }

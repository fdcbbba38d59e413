"""The graph registry: built-in graphs and those a `langgraph.json` names, each with a default
assistant whose id is derived from the graph id (as the LangGraph server does), so the graph id
can stand for that assistant anywhere an assistant id is accepted."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import inspect
import typing
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Literal

import structlog
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph_sdk.auth.types import BaseUser
from langgraph_sdk.runtime import ServerRuntime, _ExecutionRuntime, _ReadRuntime, _ServerRuntimeBase
from pydantic import create_model

from loopdesk.core.imports import exec_file
from loopdesk.runtime.config import ConfigFileError, LanggraphConfig

log = structlog.get_logger("loopdesk.graphs")

# The namespace the LangGraph server derives default assistant ids from: ids match across servers.
ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

GraphValue = Pregel | StateGraph | Callable[..., Any]
# Why a graph is opened, as langgraph_sdk's ServerRuntime names it: only a run gets the execution runtime.
AccessContext = Literal["threads.create_run", "threads.update", "threads.read", "assistants.read"]


def default_assistant_id(graph_id: str) -> uuid.UUID:
    return uuid.uuid5(ASSISTANT_NAMESPACE, graph_id)


class GraphLoadError(ConfigFileError):
    pass


@dataclass
class RegisteredGraph:
    graph_id: str
    value: GraphValue
    source: str
    # A factory's parameters by name: "config" or "runtime" (a langgraph_sdk ServerRuntime); passed by keyword.
    parameters: dict[str, str] = field(default_factory=dict)
    # What a caller may set per run (runtime/caller_settings.py); None: read from the graph's schemas.
    declared_caller_settings: frozenset[str] | None = None
    # Run by loopdesk itself (the feedback workflow) as the system account: no default assistant, not listed,
    # and no caller's assistant or run may use it.
    internal: bool = False

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
            names |= schema_fields(schema)
        return frozenset(names) or None

    @property
    def is_factory(self) -> bool:
        return not isinstance(value := self.value, Pregel | StateGraph) and callable(value)

    @asynccontextmanager
    async def open(
        self,
        config: RunnableConfig | None = None,
        *,
        access: AccessContext,
        store: BaseStore | None = None,
        checkpointer: Any = None,
        user: BaseUser | None = None,
        context: Any = None,
    ) -> AsyncIterator[Pregel]:
        """The runnable graph for one use (a run, a state read, a schema), as the LangGraph server opens it: a
        factory is called per use with what it asks for (the config, a ServerRuntime whose `context` only a run
        gets), and what it returns (a graph, an awaitable, a sync or async context manager) is entered for this
        use and exited after it."""
        value: Any = self.value
        if self.is_factory:
            runtime = _server_runtime(access, store, user, context)
            config = ensure_config(config)
            value = value(**{name: runtime if role == "runtime" else config for name, role in self.parameters.items()})
        async with _entered(value) as graph:
            if isinstance(graph, StateGraph):
                graph = graph.compile()
            if not isinstance(graph, Pregel):
                raise GraphLoadError(f"graph {self.graph_id!r} ({self.source}) did not produce a LangGraph graph")
            update: dict[str, Any] = {"checkpointer": checkpointer, "store": store}
            update = {key: item for key, item in update.items() if item is not None}
            if graph.name == "LangGraph":
                update["name"] = self.graph_id
            yield graph.copy(update=update) if update else graph


def runtime_user(user_id: uuid.UUID | str, display_name: str | None = None) -> BaseUser:
    """The loopdesk user a factory's `runtime.user` is: identified by the id runs carry as `user_id`."""
    from loopdesk.runtime.custom_auth import ExternalUser

    return ExternalUser(identity=str(user_id), display_name=display_name or str(user_id))


def _server_runtime(
    access: AccessContext, store: BaseStore | None, user: BaseUser | None, context: Any
) -> ServerRuntime:
    """langgraph_sdk's own runtime classes, so a factory's `runtime.execution_runtime` narrows as it does there."""
    if access == "threads.create_run":
        return _ExecutionRuntime(access_context=access, user=user, store=store, context=copy.copy(context))
    return _ReadRuntime(access_context=access, user=user, store=store)


@asynccontextmanager
async def _entered(value: Any) -> AsyncIterator[Any]:
    if isinstance(value, Pregel | StateGraph):
        yield value
    elif hasattr(value, "__aenter__") and hasattr(value, "__aexit__"):
        async with value as entered:
            yield entered
    elif hasattr(value, "__enter__") and hasattr(value, "__exit__"):
        with value as entered:
            yield entered
    elif inspect.isawaitable(value):
        yield await value
    else:
        yield value


def factory_parameters(value: Callable[..., Any]) -> dict[str, str]:
    """What each parameter of a graph factory takes, as the LangGraph server reads it: none; one, a config
    or a runtime; or a config and a runtime. A runtime is annotated `ServerRuntime` (or named `runtime`)."""
    try:
        parameters = list(inspect.signature(value).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"its signature cannot be read ({exc})") from None
    if len(parameters) > 2:
        raise ValueError(f"it must take no argument, a config, a runtime, or both; it takes {len(parameters)}")
    try:
        hints = typing.get_type_hints(value, localns={"ServerRuntime": ServerRuntime, "RunnableConfig": RunnableConfig})
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: read it as written
        hints = {}
    runtime = [p.name for p in parameters if _is_runtime(hints.get(p.name, p.annotation))]
    runtime = runtime or [p.name for p in parameters if p.name == "runtime"]
    if len(parameters) == 2 and len(runtime) != 1:
        raise ValueError("with two parameters, exactly one must be the runtime (annotated `ServerRuntime`)")
    return {p.name: "runtime" if p.name in runtime else "config" for p in parameters}


def _is_runtime(annotation: Any) -> bool:
    if annotation is ServerRuntime:
        return True
    if isinstance(annotation, str):  # a forward reference that did not resolve
        return annotation.split("[")[0].rpartition(".")[2] == "ServerRuntime"
    if isinstance(annotation, type):
        return issubclass(annotation, _ServerRuntimeBase)
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_runtime(typing.get_args(annotation)[0])
    return origin is not None and _is_runtime(origin)


@dataclass
class GraphRegistry:
    graphs: dict[str, RegisteredGraph] = field(default_factory=dict)
    # Graphs the configuration names that failed to load, with why: reported, never served.
    unavailable: dict[str, str] = field(default_factory=dict)
    # langgraph.json `store.index` with `embed` resolved (a function, or a "provider:model" string).
    store_index: dict[str, Any] | None = None
    # langgraph.json `auth.path`: a langgraph_sdk.auth.Auth object (see runtime/custom_auth.py).
    custom_auth: Any = None
    # langgraph.json `http.app`: routes served beside the API (see runtime/custom_routes.py).
    custom_app: Any = None

    def register(
        self,
        graph_id: str,
        value: GraphValue,
        *,
        source: str = "built-in",
        caller_settings: frozenset[str] | None = None,
        internal: bool = False,
    ) -> None:
        parameters: dict[str, str] = {}
        if not isinstance(value, Pregel | StateGraph):
            if not callable(value):
                raise GraphLoadError(f"graph {graph_id!r} ({source}) is neither a graph nor a graph factory")
            try:
                parameters = factory_parameters(value)
            except ValueError as exc:
                raise GraphLoadError(f"graph factory {graph_id!r} ({source}): {exc}") from None
        self.graphs[graph_id] = RegisteredGraph(
            graph_id, value, source, parameters=parameters, declared_caller_settings=caller_settings, internal=internal
        )
        self.unavailable.pop(graph_id, None)

    def get(self, graph_id: str) -> RegisteredGraph | None:
        return self.graphs.get(graph_id)

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self.graphs

    def load_config(self, config: LanggraphConfig) -> None:
        config.apply_environment()
        modules: dict[Path, ModuleType] = {}  # a file naming several graphs is executed once: they share it
        for graph_id, spec in config.graphs.items():
            try:
                self.register(graph_id, _import_spec(spec, config.base_dir, modules), source=spec)
            except GraphLoadError as exc:  # one broken graph is reported; the others are served
                self.unavailable[graph_id] = str(exc)
                log.error("graphs.unavailable", graph_id=graph_id, source=spec, error=str(exc))
                continue
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
        if config.http is not None and config.http.app:
            from starlette.applications import Starlette

            from loopdesk.runtime.custom_routes import CustomApp

            app = _import_spec(config.http.app, config.base_dir, modules)
            if not isinstance(app, Starlette):
                raise GraphLoadError(f"http.app {config.http.app!r} is not a Starlette or FastAPI application")
            self.custom_app = CustomApp(app, config.http.app, authenticated=config.http.enable_custom_route_auth)
            log.info("graphs.custom_app", source=config.http.app, authenticated=self.custom_app.authenticated)


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


def schema_fields(schema: Any) -> set[str]:
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

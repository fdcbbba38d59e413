"""Importing a user's Python file (a graph file of langgraph.json, a tool plugin) as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def exec_file(path: Path, module_name: str) -> ModuleType:
    """Execute `path` as the module `module_name` (registered in sys.modules first, so that its own
    dataclasses, pickling and relative lookups find it). Whatever the file raises propagates."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

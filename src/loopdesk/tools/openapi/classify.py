"""Side-effect classification of an HTTP operation: read, write or destructive, with a one-line reason.

The HTTP method decides, then the words of the operation id, path and summary refine it. Mistakes
lean toward the safe side: a destructive word anywhere makes a write destructive, while a POST only
counts as a read when its leading verb (or last path segment) says it queries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from loopdesk.tools.base import SIDE_EFFECTS, SideEffect

EXTENSIONS = ("x-loopdesk-side-effect", "x-side-effect")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
QUERY_VERBS = frozenset(
    {
        "search", "query", "list", "find", "lookup", "get", "fetch", "read", "retrieve", "calculate", "compute",
        "validate", "verify", "check", "preview", "estimate", "quote", "count", "simulate", "filter", "match",
    }
)  # fmt: skip
DESTRUCTIVE_VERBS = frozenset(
    {
        "delete", "remove", "purge", "destroy", "cancel", "cancellation", "refund", "revoke", "terminate", "wipe",
        "drop", "reset", "void", "erase", "truncate", "kill", "deactivate", "disable", "expire", "invalidate",
        "unsubscribe", "uninstall", "deprovision", "rollback", "overwrite", "chargeback", "deletion", "removal",
    }
)  # fmt: skip
# Any of these next to a query verb ("get or create") keeps a POST a write.
WRITE_VERBS = frozenset(
    {
        "create", "add", "update", "insert", "upsert", "set", "send", "submit", "save", "write", "upload", "import",
        "charge", "pay", "transfer", "execute", "run", "trigger", "start", "stop", "approve", "reject", "assign",
        "publish", "modify", "change", "edit", "replace", "move", "copy", "merge", "enable",
        "invite", "register", "subscribe", "book", "notify", "mark", "apply", "commit", "sync", "push", "attach",
        "link", "grant", "lock", "unlock", "restore", "archive", "increment", "process",
    }
)  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def words(text: str) -> list[str]:
    """Lower-case words of an identifier or a sentence: `deleteUserById` → delete, user, by, id."""
    return [word.lower() for word in _WORD.findall(text)]


def _matches(tokens: Iterable[str], vocabulary: frozenset[str], *, plurals: bool = False) -> str | None:
    for token in tokens:
        # POST /refunds creates a refund (a plural noun counts), but POST /quotes is no query.
        if token in vocabulary or (plurals and token.endswith("s") and token[:-1] in vocabulary):
            return token
    return None


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment and not segment.startswith("{")]


def classify(method: str, path: str, operation: Mapping[str, Any] | None = None) -> tuple[SideEffect, str]:
    """The operation's side effect and why, e.g. `("destructive", "POST named like a destructive action (refund)")`."""
    operation = operation or {}
    method = method.upper()
    for extension in EXTENSIONS:
        declared = operation.get(extension)
        if isinstance(declared, str) and declared.lower() in SIDE_EFFECTS:
            return declared.lower(), f"declared by {extension}"  # type: ignore[return-value]
    if method in READ_METHODS:
        return "read", f"{method} reads"
    if method == "DELETE":
        return "destructive", "DELETE is destructive"

    operation_id = operation.get("operationId") if isinstance(operation.get("operationId"), str) else ""
    summary = operation.get("summary") if isinstance(operation.get("summary"), str) else ""
    segments = _segments(path)
    everything = [*words(operation_id), *(w for s in segments for w in words(s)), *words(summary)]
    destructive = _matches(everything, DESTRUCTIVE_VERBS, plurals=True)
    if destructive:
        return "destructive", f"{method} named like a destructive action ({destructive})"
    if method == "POST" and not _matches(everything, WRITE_VERBS):
        leading = [tokens[0] for tokens in (words(operation_id), words(summary)) if tokens]
        last = words(segments[-1]) if segments else []
        if len(last) == 1:  # "/search", "/_query"; "/list-members" could add to a list
            leading.extend(last)
        query = _matches(leading, QUERY_VERBS)
        if query:
            return "read", f"POST named like a query ({query})"
    return "write", f"{method} writes"

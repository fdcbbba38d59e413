"""The fixed-depth prefix tree that sends a message to a small leaf of candidate clusters (as in Drain)."""

from __future__ import annotations

import re
from typing import Any

from loopdesk.triage.logs.tokens import WILDCARD

Route = tuple[Any, ...]

_HAS_DIGIT = re.compile(r"\d")


class PrefixTree:
    """Leaves keyed by token count and the first `depth - 2` words; only live clusters are kept, and a
    node that loses its last cluster is pruned, so the tree shrinks with the clusters it serves."""

    def __init__(self, depth: int, max_children: int) -> None:
        self.depth = depth
        self.max_children = max_children
        self._leaves: dict[Route, list[int]] = {}
        self._children: dict[Route, set[str]] = {}

    def route(self, tokens: list[str], *, learn: bool) -> Route | None:
        """The leaf for `tokens`: the token count, then the first `depth - 2` words. A variable (`<*>`,
        a token with digits) is passed over to one more token, so lines that start with one do not all
        share a leaf. None when not learning and the tree has no such leaf."""
        key: Route = (len(tokens),)
        words = 0
        for token in tokens[: self.depth - 1]:
            if words == self.depth - 2:
                break
            if WILDCARD in token or _HAS_DIGIT.search(token):
                token = WILDCARD
            children = self._children.get(key)
            if children is None or token not in children:
                if children is not None and (len(children) >= self.max_children or not learn):
                    token = WILDCARD  # a full node sends newcomers to its wildcard child
                if not learn and (children is None or token not in children):
                    return None
                self._children.setdefault(key, set()).add(token)
            key = (*key, token)
            words += token != WILDCARD
        return key

    def members(self, route: Route) -> list[int]:
        return self._leaves.get(route, [])

    def join(self, route: Route, cluster_id: int) -> None:
        ids = self._leaves.setdefault(route, [])
        if cluster_id not in ids:
            ids.append(cluster_id)
        for depth in range(1, len(route)):  # a restored route may not have been walked yet
            self._children.setdefault(route[:depth], set()).add(route[depth])

    def leave(self, route: Route, cluster_id: int) -> None:
        ids = self._leaves.get(route)
        if ids is None or cluster_id not in ids:
            return
        ids.remove(cluster_id)
        if ids:
            return
        del self._leaves[route]
        node = route
        while len(node) > 1 and node not in self._leaves and not self._children.get(node):
            self._children.pop(node, None)
            parent = node[:-1]
            siblings = self._children.get(parent)
            if siblings is not None:
                siblings.discard(node[-1])
            node = parent

"""Incremental log template mining: a Drain-style fixed-depth prefix tree over masked tokens.

One configuration for every kind of log. Memory is bounded: at most `max_clusters` clusters (the least
recently used is dropped), `max_leaf_clusters` per leaf, and bounded caches; a message costs one walk down
the tree and a similarity pass over the clusters of its leaf (usually one list comparison).

Where it departs from Drain:
- generic masks (masking.py) turn numbers, addresses, ids, paths and sizes into `<*>` before clustering, and
  every template is printed in the canonical form of the Loghub-2.0 corrected templates (tokens.py);
- a word that differs from a cluster's constant does not generalise it at once: two values look like
  alternatives (`bytes` / `values`), a third one makes the position a variable (`cyrus`, `news`, `test`),
  unless the values are capitalised words (LOOKING / FOLLOWING), which stay alternatives;
- a template that grows more general absorbs the clusters it now covers, so results do not depend on
  the order of the lines; a run of variables is one token, so lists of any length share a template;
- a cluster is also found across leaves by its template with one routing token left out (index.py).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable
from operator import eq
from pathlib import Path
from typing import Any, NamedTuple

from loopdesk.triage.logs.index import SkipIndex
from loopdesk.triage.logs.masking import Masker
from loopdesk.triage.logs.tokens import canonical, differing_words, generalize, subsumes
from loopdesk.triage.logs.tree import PrefixTree, Route

STATE_VERSION = 1
# Where values differ by upper-case or capitalised words (LOOKING / FOLLOWING, GET / POST, Started / Stopped)
# they name states and modes: alternatives, however many there are. CamelCase names stay variables.
_ENUM_WORD = re.compile(r"^(?:[A-Z][A-Z_]+|[A-Z][a-z]+)$")


class Match(NamedTuple):
    """Where a message landed: its cluster, the cluster's template now, and what learning it did."""

    cluster_id: int
    template: str
    change: str  # "created", "changed" or "none"

    @property
    def is_new(self) -> bool:
        return self.change == "created"


class TemplateInfo(NamedTuple):
    id: int
    template: str
    count: int


class _Cluster:
    __slots__ = ("id", "tokens", "count", "routes", "seen", "_text")

    def __init__(self, cluster_id: int, tokens: list[str], routes: list[Route], count: int = 1) -> None:
        self.id = cluster_id
        self.tokens = tokens
        self.routes = routes
        self.count = count
        self.seen = 0  # the miner's message counter when the cluster last took a message
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = canonical(" ".join(self.tokens))
        return self._text


def _covers(template: list[str], tokens: list[str], skip: int = -1) -> bool:
    return all(i == skip or t == s or subsumes(t, s) for i, (t, s) in enumerate(zip(template, tokens, strict=True)))


class TemplateMiner:
    """Learns templates from a stream of messages; see `add`, `match`, `templates`, `save`, `load`."""

    def __init__(
        self,
        *,
        similarity: float = 0.5,
        depth: int = 3,
        max_children: int = 200,
        max_clusters: int = 20_000,
        max_leaf_clusters: int = 200,
        min_variants: int = 3,
    ) -> None:
        if not 0.0 < similarity <= 1.0:
            raise ValueError("similarity must be in (0, 1]")
        if min(max_clusters, max_children, max_leaf_clusters) < 1 or min_variants < 2:
            raise ValueError("the max_* limits must be positive, min_variants at least 2")
        self.similarity = similarity
        self.depth = max(depth, 2)
        self.max_children = max_children
        self.max_clusters = max_clusters
        self.max_leaf_clusters = max_leaf_clusters
        self.min_variants = min_variants
        self._masker = Masker()
        self._tree = PrefixTree(self.depth, max_children)
        self._clusters: OrderedDict[int, _Cluster] = OrderedDict()
        self._index = SkipIndex(self.depth - 1)
        self._redirect: dict[int, int] = {}
        self._next_id = 1
        self._tick = 0

    # -- the public surface ----------------------------------------------------------------------

    def add(self, message: str) -> Match:
        """Learn from one message and say which cluster it joined."""
        self._tick += 1
        tokens = self._masker.tokens(message)
        route = self._tree.route(tokens, learn=True)
        assert route is not None  # learning always finds or makes a leaf
        for cid in self._tree.members(route):
            cluster = self._clusters[cid]
            if cluster.tokens == tokens:  # the common case once the masks have done their work
                cluster.count += 1
                cluster.seen = self._tick
                self._clusters.move_to_end(cid)
                return Match(cid, cluster.text, "none")
        candidates = self._candidates(route)
        cluster, diff = self._best(candidates, tokens)
        if cluster is not None and diff and not self._is_variable(cluster, tokens, diff):
            siblings = self._siblings(candidates, cluster, tokens, diff)
            if siblings is None:
                cluster = None
            else:
                for sibling in siblings:
                    self._absorb(cluster, sibling)
        if cluster is None:
            cluster = self._across_leaves(tokens, route)
            if cluster is None:
                cluster = self._create(tokens, route)
                return Match(cluster.id, cluster.text, "created")
        cluster.count += 1
        cluster.seen = self._tick
        self._clusters.move_to_end(cluster.id)
        changed = self._learn(cluster, tokens)
        return Match(cluster.id, cluster.text, "changed" if changed else "none")

    def match(self, message: str) -> Match | None:
        """The cluster `message` belongs to, without learning from it (None when no template covers it)."""
        tokens = self._masker.tokens(message)
        route = self._tree.route(tokens, learn=False)
        if route is not None:
            cluster, diff = self._best(self._candidates(route), tokens)
            if cluster is not None and not diff:
                return Match(cluster.id, cluster.text, "none")
        for cid in self._index.lookup(tokens):
            cluster = self._clusters[cid]
            if _covers(cluster.tokens, tokens):
                return Match(cluster.id, cluster.text, "none")
        return None

    def template_for(self, message: str) -> str:
        """The template of the cluster covering `message`, else the message with its masks applied."""
        found = self.match(message)
        return found.template if found is not None else canonical(" ".join(self._masker.tokens(message)))

    def resolve(self, cluster_id: int) -> int:
        """The id a cluster lives under after merges."""
        for _ in range(64):
            target = self._redirect.get(cluster_id)
            if target is None:
                break
            cluster_id = target
        return cluster_id

    def template_of(self, cluster_id: int) -> str | None:
        """The current template of a cluster (following merges); None once it has been dropped."""
        cluster = self._clusters.get(self.resolve(cluster_id))
        return None if cluster is None else cluster.text

    def templates(self) -> list[TemplateInfo]:
        """Every live cluster, most frequent first (clusters whose templates read the same are summed)."""
        merged: dict[str, TemplateInfo] = {}
        for c in self._clusters.values():
            seen = merged.get(c.text)
            merged[c.text] = (
                TemplateInfo(c.id, c.text, c.count) if seen is None else seen._replace(count=seen.count + c.count)
            )
        return sorted(merged.values(), key=lambda t: (-t.count, t.id))

    def __len__(self) -> int:
        return len(self._clusters)

    # -- finding a cluster -----------------------------------------------------------------------

    def _candidates(self, route: Route) -> list[_Cluster]:
        clusters = self._clusters
        return [clusters[cid] for cid in self._tree.members(route)]

    def _best(self, candidates: list[_Cluster], tokens: list[str]) -> tuple[_Cluster | None, list[int]]:
        """The most similar cluster at or above the threshold, and the positions its template does not cover."""
        for cluster in candidates:
            if cluster.tokens == tokens:
                return cluster, []
        best: _Cluster | None = None
        best_key: tuple[bool, float, int] = (False, -1.0, -1)
        best_diff: list[int] = []
        n = len(tokens)
        need = self.similarity * n
        for cluster in candidates:
            template = cluster.tokens
            same = sum(map(eq, template, tokens))  # counted in C: most candidates stop here
            if same < need:
                continue
            params = 0
            diff = []
            for i, (t, s) in enumerate(zip(template, tokens, strict=True)):
                if t != s:
                    if subsumes(t, s):
                        params += 1
                    else:
                        diff.append(i)
            # a cluster that already covers the message wins over a closer one that would have to change
            key = (not diff, same / n, params)
            if key > best_key:
                best, best_key, best_diff = cluster, key, diff
        return best, best_diff

    @staticmethod
    def _is_variable(cluster: _Cluster, tokens: list[str], diff: list[int]) -> bool:
        """Whether the message shows every differing position to be a variable (it has `<*>` there)."""
        return all(subsumes(tokens[i], cluster.tokens[i]) for i in diff)

    def _enough_variants(self, values: set[tuple[str, ...]]) -> bool:
        if len(values) < self.min_variants:
            return False
        columns = zip(*values, strict=True)
        return not all(_ENUM_WORD.match(word) for column in columns for word in differing_words(column))

    def _siblings(
        self, candidates: list[_Cluster], cluster: _Cluster, tokens: list[str], diff: list[int]
    ) -> list[_Cluster] | None:
        """The clusters of the leaf that differ from `cluster` only where the message does, when with the
        message they show enough variants for those positions to be variables; None when they do not."""
        values = {tuple(tokens[i] for i in diff), tuple(cluster.tokens[i] for i in diff)}
        wanted = set(diff)
        siblings = []
        for other in candidates:
            if other is not cluster and all(
                i in wanted or a == b or subsumes(a, b) or subsumes(b, a)
                for i, (a, b) in enumerate(zip(other.tokens, cluster.tokens, strict=True))
            ):
                siblings.append(other)
                values.add(tuple(other.tokens[i] for i in diff))
        return siblings if self._enough_variants(values) else None

    def _across_leaves(self, tokens: list[str], route: Route) -> _Cluster | None:
        """A cluster in another leaf that covers the message, its routing token being a variable there
        (`<*> LOGIN ON tty2` for `ROOT LOGIN ON tty2`); the message's leaf then points at it too.
        Constants are not merged across leaves: a different first word mostly names a different event."""
        for cid in self._index.lookup(tokens):
            cluster = self._clusters[cid]
            if _covers(cluster.tokens, tokens):
                self._place(cluster, route)
                return cluster
        return None

    # -- changing clusters -----------------------------------------------------------------------

    def _create(self, tokens: list[str], route: Route) -> _Cluster:
        leaf = self._candidates(route)
        if len(leaf) >= self.max_leaf_clusters:
            # a full leaf drops its least recently used cluster: the similarity pass stays short
            self._drop(min(leaf, key=lambda c: c.seen))
        cluster = _Cluster(self._next_id, list(tokens), [])
        cluster.seen = self._tick
        self._next_id += 1
        self._clusters[cluster.id] = cluster
        self._place(cluster, route)
        self._index.put(cluster.id, cluster.tokens)
        while len(self._clusters) > self.max_clusters:
            self._drop(next(iter(self._clusters.values())))
        return cluster

    def _place(self, cluster: _Cluster, route: Route) -> None:
        if route not in cluster.routes:
            cluster.routes.append(route)
            self._tree.join(route, cluster.id)

    def _drop(self, cluster: _Cluster) -> None:
        self._index.remove(cluster.id)
        for route in cluster.routes:
            self._tree.leave(route, cluster.id)
        del self._clusters[cluster.id]

    def _absorb(self, cluster: _Cluster, other: _Cluster) -> None:
        if other.id not in self._clusters or other is cluster:
            return  # already taken in by an earlier step of the same merge
        self._drop(other)
        self._redirect[other.id] = cluster.id
        while len(self._redirect) > self.max_clusters:
            del self._redirect[next(iter(self._redirect))]
        cluster.count += other.count
        cluster.seen = max(cluster.seen, other.seen)
        for route in other.routes:
            self._place(cluster, route)
        self._learn(cluster, other.tokens)

    def _learn(self, cluster: _Cluster, tokens: list[str]) -> bool:
        template = cluster.tokens
        if template == tokens:
            return False
        changed = False
        for i, token in enumerate(tokens):
            current = template[i]
            if current != token:
                merged = generalize(current, token)
                if merged != current:
                    template[i] = merged
                    changed = True
        if changed:
            cluster._text = None
            self._index.put(cluster.id, template)
            self._absorb_covered(cluster)
        return changed

    def _absorb_covered(self, cluster: _Cluster) -> None:
        """A template that has just grown more general takes in the clusters it now covers, so that which
        of two matching clusters a message joins no longer depends on the order messages came in."""
        for route in list(cluster.routes):
            for other in self._candidates(route):
                if other is not cluster and _covers(cluster.tokens, other.tokens):
                    self._absorb(cluster, other)

    # -- state -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data (clusters from least to most recently used)."""
        return {
            "version": STATE_VERSION,
            "config": {
                "similarity": self.similarity,
                "depth": self.depth,
                "max_children": self.max_children,
                "max_clusters": self.max_clusters,
                "max_leaf_clusters": self.max_leaf_clusters,
                "min_variants": self.min_variants,
            },
            "next_id": self._next_id,
            "tick": self._tick,
            "clusters": [
                {
                    "id": c.id,
                    "tokens": c.tokens,
                    "count": c.count,
                    "seen": c.seen,
                    "routes": [list(r) for r in c.routes],
                }
                for c in self._clusters.values()
            ],
            "redirect": [[k, v] for k, v in self._redirect.items()],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TemplateMiner:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported template state version: {state.get('version')!r}")
        miner = cls(**state["config"])
        for item in state["clusters"]:
            routes = [tuple(r) for r in item["routes"]]
            cluster = _Cluster(int(item["id"]), [str(t) for t in item["tokens"]], [], int(item["count"]))
            cluster.seen = int(item.get("seen", 0))
            miner._clusters[cluster.id] = cluster
            miner._index.put(cluster.id, cluster.tokens)
            for route in routes:
                miner._place(cluster, route)
        miner._redirect = {int(k): int(v) for k, v in state.get("redirect", [])}
        miner._next_id = max(int(state["next_id"]), max(miner._clusters, default=0) + 1)
        miner._tick = int(state.get("tick", 0))
        return miner

    def save(self, path: str | Path) -> None:
        """Write the state as JSON, atomically (a crash leaves the previous file whole)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> TemplateMiner:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def mine(messages: Iterable[str], miner: TemplateMiner | None = None) -> list[str]:
    """The final template of every message (in memory: for tests and benchmarks; the CLI spools to disk)."""
    miner = TemplateMiner() if miner is None else miner
    ids = [miner.add(m).cluster_id for m in messages]
    return [miner.template_of(i) or "" for i in ids]

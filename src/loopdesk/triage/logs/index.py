"""Clusters found by their template with one routing token left out, across the leaves of the tree."""

from __future__ import annotations

Key = tuple[int, int, int]

_BUCKET = 16  # a crowded key would make every lookup long: later clusters are not filed under it


class SkipIndex:
    """Each cluster is filed under its template with token `p` left out, for each `p` below `width`, so a
    message whose routing token is a variable the masks missed still meets the cluster where it is `<*>`."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._ids: dict[Key, set[int]] = {}
        self._keys: dict[int, list[Key]] = {}

    def _keys_of(self, tokens: list[str]) -> list[Key]:
        if len(tokens) < 2:
            return []  # a lone token is its own route: there is nothing left to meet on
        n = len(tokens)
        return [(n, p, hash(tuple(tokens[:p] + tokens[p + 1 :]))) for p in range(min(self.width, n))]

    def lookup(self, tokens: list[str]) -> list[int]:
        """Ids filed under any of the keys of `tokens` (hash keys: callers check the tokens themselves)."""
        return [cid for key in self._keys_of(tokens) for cid in self._ids.get(key, ())]

    def put(self, cluster_id: int, tokens: list[str]) -> None:
        self.remove(cluster_id)
        filed = []
        for key in self._keys_of(tokens):
            ids = self._ids.setdefault(key, set())
            if len(ids) < _BUCKET:
                ids.add(cluster_id)
                filed.append(key)
        self._keys[cluster_id] = filed

    def remove(self, cluster_id: int) -> None:
        for key in self._keys.pop(cluster_id, ()):
            ids = self._ids.get(key)
            if ids is not None:
                ids.discard(cluster_id)
                if not ids:
                    del self._ids[key]

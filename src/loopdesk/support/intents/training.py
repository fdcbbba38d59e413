"""Fitting an intent model: a linear SVM over [embedding, word n-grams, char n-grams], then what the held-out
part of the training data says about its scores.

Every example is scored once by a model that did not see it (stratified k-fold); on those scores the softmax
temperature is fitted (lowest log-loss) and the out-of-scope threshold chosen: the highest one that costs at most
`max_in_scope_loss` of held-out in-scope accuracy. Rejecting an answer that was wrong anyway costs nothing, so it
turns away unsure answers, mostly wrong ones, with or without `oos` examples. Then the final model is fitted on
everything. Test data never takes part.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp

from loopdesk.support.intents.features import MAX_TEXT_CHARS, BlockSpec, FeatureSpace
from loopdesk.support.intents.model import OUT_OF_SCOPE, IntentModel, Progress, embed_batches, softmax
from loopdesk.triage.dedup.embeddings import Embedder, get_embedder

# Weights and C from CLINC150 train / val (benchmarks/README.md, "Intents").
DEFAULT_BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec("word", "word", (1, 2)),
    BlockSpec("char", "char_wb", (2, 5), min_df=2),
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    blocks: tuple[BlockSpec, ...] = DEFAULT_BLOCKS
    embedding_weight: float = 3.0  # 0: n-grams only, no embedder needed
    c: float = 0.5
    folds: int = 3  # held-out scoring; fewer when an intent has fewer examples
    # The out-of-scope threshold may cost this much held-out in-scope accuracy (0.003 = 0.3 points).
    max_in_scope_loss: float = 0.003
    oos_threshold: float | None = None  # set: use it instead of choosing one
    ambiguous_confidence: float = 0.5
    ambiguous_margin: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HeldOut:
    """What the held-out scoring measured (shown by `loopdesk intents train`, kept in the model's info)."""

    examples: int
    accuracy: float  # predictions equal to the label, oos included, after the threshold
    in_scope_accuracy: float | None
    oos_recall: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("examples", "accuracy", "in_scope_accuracy", "oos_recall")}


def clean_examples(examples: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for number, (text, intent) in enumerate(examples, start=1):
        if not isinstance(text, str) or not text.strip() or not isinstance(intent, str) or not intent.strip():
            raise ValueError(f"example {number}: text and intent must be non-empty strings")
        texts.append(text.strip()[:MAX_TEXT_CHARS])
        labels.append(intent.strip())
    counts = Counter(labels)
    if len([c for c in counts if c != OUT_OF_SCOPE]) < 2:
        raise ValueError("need examples of at least two intents (besides oos)")
    few = sorted(c for c, n in counts.items() if n < 2)
    if few:
        raise ValueError(f"need at least 2 examples of each intent; {', '.join(few)} has fewer")
    return texts, labels


def _svm(x: sp.csr_matrix, y: np.ndarray, c: float) -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=c).fit(x, y)


def _fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    grid = np.geomspace(0.01, 5.0, 90)
    rows = np.arange(len(y))
    nll = [-np.log(softmax(scores / t)[rows, y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def decide(probs: np.ndarray, oos_index: int | None, threshold: float) -> np.ndarray:
    """Class index per row after the threshold; -1 for oos when the classes have no oos column."""
    masked = probs.copy()
    if oos_index is not None:
        masked[:, oos_index] = -1.0
    best = masked.argmax(axis=1)
    top = masked[np.arange(len(best)), best]
    rejected = top < threshold
    if oos_index is not None:
        rejected |= probs.argmax(axis=1) == oos_index
    return np.where(rejected, -1 if oos_index is None else oos_index, best)


def choose_threshold(probs: np.ndarray, y: np.ndarray, oos_index: int | None, max_loss: float) -> float:
    """The highest threshold that costs at most `max_loss` of held-out in-scope accuracy: rejecting a prediction
    that was wrong anyway costs nothing, so it turns away the unsure answers, mostly wrong ones first."""
    in_scope = y != oos_index if oos_index is not None else np.ones(len(y), dtype=bool)
    probs, y = probs[in_scope], y[in_scope]
    base = float((decide(probs, oos_index, 0.0) == y).mean())
    chosen = 0.0
    masked = probs if oos_index is None else np.delete(probs, oos_index, axis=1)
    for threshold in np.quantile(masked.max(axis=1), np.linspace(0.0, 0.5, 501)):
        if base - float((decide(probs, oos_index, float(threshold)) == y).mean()) > max_loss:
            break
        chosen = float(threshold)
    return chosen


def held_out_scores(x: sp.csr_matrix, y: np.ndarray, n_classes: int, config: TrainConfig) -> np.ndarray | None:
    from sklearn.model_selection import StratifiedKFold

    folds = min(config.folds, int(np.bincount(y).min()))
    if folds < 2:
        return None
    scores = np.zeros((len(y), n_classes))
    # folds <= the smallest class: every class is in every training part.
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y):
        svm = _svm(x[train], y[train], config.c)
        scores[test] = _per_class(svm.decision_function(x[test]))
    return scores


def _per_class(scores: np.ndarray) -> np.ndarray:
    """Two classes get one decision function: as scores of both, ±half of it."""
    return np.column_stack([-scores / 2, scores / 2]) if scores.ndim == 1 else scores


def measure(probs: np.ndarray, y: np.ndarray, oos_index: int | None, threshold: float) -> HeldOut:
    predicted = decide(probs, oos_index, threshold)
    in_scope = y != oos_index if oos_index is not None else np.ones(len(y), dtype=bool)
    return HeldOut(
        examples=len(y),
        accuracy=round(float((predicted == y).mean()), 4),
        in_scope_accuracy=round(float((predicted[in_scope] == y[in_scope]).mean()), 4) if in_scope.any() else None,
        oos_recall=round(float((predicted[~in_scope] == oos_index).mean()), 4) if (~in_scope).any() else None,
    )


def train_model(
    examples: Sequence[tuple[str, str]],
    config: TrainConfig | None = None,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> IntentModel:
    config = config or TrainConfig()
    report = progress or (lambda stage, done, total: None)
    texts, labels = clean_examples(examples)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    oos_index = classes.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in classes else None
    vectors = None
    if config.embedding_weight > 0:
        embedder = embedder or get_embedder()
        vectors = embed_batches(embedder, texts, progress)
    features = FeatureSpace.fit(texts, config.blocks, vectors.shape[1] if vectors is not None else 0,
                                config.embedding_weight)  # fmt: skip
    x = features.matrix(texts, vectors)
    report("held-out", 0, 1)
    scores = held_out_scores(x, y, len(classes), config)
    temperature, threshold, held = 1.0, config.oos_threshold or 0.0, None
    if scores is not None:
        temperature = _fit_temperature(scores, y)
        probs = softmax(scores / temperature)
        if config.oos_threshold is None:
            threshold = choose_threshold(probs, y, oos_index, config.max_in_scope_loss)
        held = measure(probs, y, oos_index, threshold)
    report("held-out", 1, 1)
    report("fit", 0, 1)
    svm = _svm(x, y, config.c)
    report("fit", 1, 1)
    coef, intercept = svm.coef_, svm.intercept_
    if len(classes) == 2:
        coef, intercept = _per_class(coef[0]).T, _per_class(intercept)[0]
    info = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": len(texts),
        "per_class": dict(sorted(Counter(labels).items())),
        "held_out": held.as_dict() if held is not None else None,
        "n_features": features.n_features,
        "config": {"c": config.c, "embedding_weight": config.embedding_weight, "folds": config.folds,
                   "max_in_scope_loss": config.max_in_scope_loss, **config.extra},
    }  # fmt: skip
    return IntentModel(
        features, classes, coef.astype(np.float32), intercept.astype(np.float32), temperature=temperature,
        oos_threshold=threshold, ambiguous_confidence=config.ambiguous_confidence,
        ambiguous_margin=config.ambiguous_margin, embedder_name=embedder.name if embedder is not None else None,
        embedder=embedder, info=info,
    )  # fmt: skip

"""Fitting an issue-type model: a linear SVM over the feature space, with per-source feature copies.

When the training records name their source (`repo`: a repository, a product, a channel), each feature is also
copied once per source and weighted by P(source | text) from a small logistic model over the word features, so
the classifier learns both what holds everywhere and what holds in one source ("frustratingly easy" domain
adaptation, Daumé 2007). Probabilities are the SVM scores through a softmax whose temperature is fitted on
cross-validated scores. scikit-learn and scipy are imported here only: classifying needs neither.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp

from loopdesk.triage.issue_type.features import DEFAULT_BLOCKS, BlockSpec, FeatureSpace
from loopdesk.triage.issue_type.model import ISSUE_TYPES, IssueTypeModel
from loopdesk.triage.issue_type.text import Document, InvalidItem, to_document

LABEL_ALIASES: dict[str, str] = {
    "bug": "bug", "defect": "bug", "suggestion": "suggestion", "feature": "suggestion", "enhancement": "suggestion",
    "feature request": "suggestion", "feature_request": "suggestion", "question": "question", "support": "question",
}  # fmt: skip
Progress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    blocks: tuple[BlockSpec, ...] = DEFAULT_BLOCKS
    hand_weight: float = 0.5
    c: float = 0.3
    # A source needs this many records of its own before it gets its own copy of the features.
    min_domain_items: int = 30
    domain_weight: float = 1.0
    calibration_folds: int = 3
    # A floor for the softmax temperature, for corpora whose cross-validation is no guide to real data.
    min_temperature: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def normalize_label(value: Any) -> str | None:
    return LABEL_ALIASES.get(value.strip().lower()) if isinstance(value, str) else None


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def augment(x: sp.csr_matrix, domain_probs: np.ndarray | None, weight: float) -> sp.csr_matrix:
    """[x, w·P₁·x, …, w·P_K·x, P]: the shared features, one weighted copy per source, a bias per source."""
    if domain_probs is None:
        return x
    copies = [sp.diags(weight * domain_probs[:, k]) @ x for k in range(domain_probs.shape[1])]
    return sp.hstack([x, *copies, sp.csr_matrix(domain_probs)], format="csr", dtype=np.float32)


def read_records(records: Iterable[Mapping[str, Any]]) -> tuple[list[Document], np.ndarray, list[str], Counter]:
    """Documents, label indices and sources of the usable records, and why the others were skipped."""
    docs, labels, sources, skipped = [], [], [], Counter()
    for record in records:
        label = normalize_label(record.get("issue_type", record.get("label")))
        if label is None:
            skipped["unknown_label"] += 1
            continue
        try:
            docs.append(to_document(record))
        except InvalidItem as exc:
            skipped[exc.code] += 1
            continue
        labels.append(ISSUE_TYPES.index(label))
        repo = record.get("repo")
        sources.append(repo if isinstance(repo, str) else "")
    return docs, np.asarray(labels, dtype=np.int64), sources, skipped


def _fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    grid = np.geomspace(0.02, 5.0, 80)
    nll = [-np.log(softmax(scores / t)[np.arange(len(labels)), labels] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def _cv_temperature(x: sp.csr_matrix, labels: np.ndarray, onehot: np.ndarray | None, config: TrainConfig) -> float:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    folds = min(config.calibration_folds, int(np.bincount(labels).min()))
    if folds < 2:
        return 1.0
    scores = np.zeros((len(labels), len(ISSUE_TYPES)))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, labels):
        part = None if onehot is None else onehot[train]
        svm = LinearSVC(C=config.c).fit(augment(x[train], part, config.domain_weight), labels[train])
        held = None if onehot is None else onehot[test]
        scores[test] = svm.decision_function(augment(x[test], held, config.domain_weight))
    return _fit_temperature(scores, labels)


def train_model(
    records: Iterable[Mapping[str, Any]], config: TrainConfig | None = None, progress: Progress | None = None
) -> IssueTypeModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    config = config or TrainConfig()
    report = progress or (lambda stage, fraction: None)
    docs, labels, sources, skipped = read_records(records)
    counts = Counter(ISSUE_TYPES[i] for i in labels)
    if any(counts[name] < 2 for name in ISSUE_TYPES):
        raise ValueError(f"need at least 2 records of each of {', '.join(ISSUE_TYPES)}; got {dict(counts)}")
    report("vectorize", 0.05)
    features = FeatureSpace.fit(docs, config.blocks, config.hand_weight)
    x = features.matrix(docs)
    per_source = Counter(sources)
    domains = tuple(sorted(s for s, n in per_source.items() if s and n >= config.min_domain_items))
    domains = domains if len(domains) >= 2 else ()
    domain_coef = domain_intercept = onehot = None
    if domains:
        report("sources", 0.45)
        known = np.array([s in domains for s in sources])
        target = np.array([domains.index(s) if s in domains else -1 for s in sources])
        words = features.word_columns
        source_model = LogisticRegression(C=10.0, max_iter=2000).fit(x[known][:, words], target[known])
        coef, intercept = source_model.coef_, source_model.intercept_
        if len(domains) == 2:  # one logit for the second source: as a softmax over two, ±half of it
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
        domain_coef = np.zeros((len(domains), features.n_features), dtype=np.float32)
        domain_coef[:, words] = coef
        domain_intercept = intercept.astype(np.float32)
        # Records from rare or unnamed sources train the shared features only.
        onehot = np.zeros((len(docs), len(domains)), dtype=np.float32)
        onehot[known, target[known]] = 1.0
    report("calibrate", 0.55)
    temperature = max(_cv_temperature(x, labels, onehot, config), config.min_temperature)
    report("fit", 0.85)
    svm = LinearSVC(C=config.c).fit(augment(x, onehot, config.domain_weight), labels)
    info = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": len(docs),
        "per_class": dict(counts),
        "skipped": dict(skipped),
        "n_features": features.n_features,
        "config": {"c": config.c, "min_domain_items": config.min_domain_items, **config.extra},
    }
    report("done", 1.0)
    return IssueTypeModel(
        features, svm.coef_.astype(np.float32), svm.intercept_.astype(np.float32), temperature=temperature,
        domains=domains, domain_coef=domain_coef, domain_intercept=domain_intercept,
        domain_weight=config.domain_weight, info=info,
    )  # fmt: skip

"""`classify`: issue type, confidence, severity, category and language for a stream of `{title, body}` items."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from loopdesk.triage.issue_type.category import category_of
from loopdesk.triage.issue_type.language import detect_language
from loopdesk.triage.issue_type.model import ISSUE_TYPES, IssueTypeModel
from loopdesk.triage.issue_type.severity import severity_of
from loopdesk.triage.issue_type.text import Document, InvalidItem, to_document

DEFAULT_MODEL_DIR = Path(__file__).with_name("default_model")
BATCH_SIZE = 256


@lru_cache(maxsize=1)
def load_default() -> IssueTypeModel:
    """The model shipped with the package (trained on the bilingual seed corpus in `seed.py`, no third-party data)."""
    return IssueTypeModel.load(DEFAULT_MODEL_DIR)


def _result(item: dict[str, Any], doc: Document, probs: np.ndarray) -> dict[str, Any]:
    best = int(np.argmax(probs))
    issue_type = ISSUE_TYPES[best]
    result: dict[str, Any] = {"id": item["id"]} if "id" in item else {}
    result |= {
        "issue_type": issue_type,
        "confidence": round(float(probs[best]), 4),
        "scores": {name: round(float(p), 4) for name, p in zip(ISSUE_TYPES, probs, strict=True)},
        "severity": severity_of(issue_type, doc.title, doc.raw_body),
        "category": category_of(doc.title, doc.raw_body),
        "language": detect_language(doc.text),
    }
    return result


def classify_batch(items: list[Any], model: IssueTypeModel) -> list[dict[str, Any]]:
    """One result per item, in order: a classification, or `{error, detail}` for an item that cannot be read."""
    results: list[dict[str, Any]] = [{} for _ in items]
    readable: list[tuple[int, Document]] = []
    for index, item in enumerate(items):
        try:
            readable.append((index, to_document(item)))
        except InvalidItem as exc:
            results[index] = {"error": exc.code, "detail": str(exc)}
            if isinstance(item, dict) and "id" in item:
                results[index] = {"id": item["id"], **results[index]}
    probs = model.predict_proba([doc for _, doc in readable])
    for (index, doc), row in zip(readable, probs, strict=True):
        results[index] = _result(items[index], doc, row)
    return results


def classify(
    items: Iterable[Any], model: IssueTypeModel | None = None, *, batch_size: int = BATCH_SIZE
) -> Iterator[dict[str, Any]]:
    """Lazily classify `{title, body}` items (an `id` key is echoed back), `batch_size` at a time."""
    model = model or load_default()
    iterator = iter(items)
    while batch := list(islice(iterator, batch_size)):
        yield from classify_batch(batch, model)

"""Issue types for feedback and issue reports: bug / suggestion / question with a confidence, plus severity,
category and language, in English and Chinese (CPU only, no downloads).

    from loopdesk.triage.issue_type import classify
    for result in classify([{"title": "App crashes on login", "body": "..."}]):
        result["issue_type"], result["confidence"], result["severity"], result["category"], result["language"]

Names are imported on first use, so mounting the CLI does not load scikit-learn.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopdesk.triage.issue_type.category import CATEGORIES, category_of
    from loopdesk.triage.issue_type.language import detect_language
    from loopdesk.triage.issue_type.model import ISSUE_TYPES, IssueTypeModel
    from loopdesk.triage.issue_type.pipeline import classify, classify_batch, load_default
    from loopdesk.triage.issue_type.severity import SEVERITIES, severity_of
    from loopdesk.triage.issue_type.training import TrainConfig

_EXPORTS = {
    "CATEGORIES": "category", "category_of": "category", "detect_language": "language", "ISSUE_TYPES": "model",
    "IssueTypeModel": "model", "TrainConfig": "training", "classify": "pipeline", "classify_batch": "pipeline",
    "load_default": "pipeline", "SEVERITIES": "severity", "severity_of": "severity",
}  # fmt: skip
__all__ = [
    "CATEGORIES", "ISSUE_TYPES", "SEVERITIES", "IssueTypeModel", "TrainConfig", "category_of", "classify",
    "classify_batch", "detect_language", "load_default", "severity_of",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)

"""The shipped default model: trained on a bilingual seed corpus generated from hand-written templates.

No third-party data goes in (the NLBSE'24 set used for evaluation may not be shipped in a model), so the
corpus is small and regular; the rule cues (rules.py) carry much of the weight. Rebuild the shipped files with

    python -m loopdesk.triage.issue_type.seed            # writes src/loopdesk/triage/issue_type/default_model/
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from string import Formatter
from types import ModuleType
from typing import Any

from loopdesk.triage.issue_type import seed_en, seed_zh
from loopdesk.triage.issue_type.features import BlockSpec
from loopdesk.triage.issue_type.model import IssueTypeModel
from loopdesk.triage.issue_type.pipeline import DEFAULT_MODEL_DIR
from loopdesk.triage.issue_type.training import TrainConfig

RECORDS_PER_CLASS = 300  # per language
# Caps keep the shipped files well under 2 MB; templates repeat, so little is lost. A templated corpus is
# easy to overfit: stronger regularisation (c) and heavier rule cues than for real training data, and the
# temperature floor is what cross-validation on real reports gives (~0.4), as templates separate perfectly.
SEED_CONFIG = TrainConfig(
    blocks=(
        BlockSpec("title_word", "title", "word", (1, 2), weight=0.6, min_df=2, max_features=15_000),
        BlockSpec("body_word", "body", "word", (1, 2), min_df=2, max_features=15_000),
        BlockSpec("title_char", "title", "char_wb", (2, 5), weight=0.6, min_df=2, max_features=15_000),
        BlockSpec("body_char", "body", "char_wb", (3, 5), min_df=2, max_features=25_000, max_chars=2_500),
    ),
    hand_weight=2.0,
    c=0.1,
    min_temperature=0.4,
    extra={"corpus": "loopdesk seed (seed_en.py, seed_zh.py)"},
)
_FIELDS = Formatter()


def _fill(template: str, slots: dict[str, tuple[str, ...]], picks: dict[str, str], rng: random.Random) -> str:
    values: dict[str, str] = {}
    for _, name, _, _ in _FIELDS.parse(template):
        if not name or name in values:
            continue
        base = name.lower().removesuffix("_code")
        if base not in picks:
            picks[base] = rng.choice(slots[base])
        value = picks[base]
        if name.endswith("_code"):
            value = re.sub(r"\W+", "_", value.lower()).strip("_")
        elif name[0].isupper():
            value = value[:1].upper() + value[1:]
        values[name] = value
    return template.format(**values)


def _records(module: ModuleType, per_class: int, rng: random.Random) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for label, prefix in (("bug", "BUG"), ("suggestion", "SUGGESTION"), ("question", "QUESTION")):
        titles, bodies = getattr(module, f"{prefix}_TITLES"), getattr(module, f"{prefix}_BODIES")
        seen: set[tuple[str, str]] = set()
        for _ in range(per_class * 3):
            if len(seen) >= per_class:
                break
            picks: dict[str, str] = {}
            title = _fill(rng.choice(titles), module.SLOTS, picks, rng)
            # Real reports range from a bare title to several paragraphs.
            parts = rng.choice((0, 1, 1, 2, 2, 3))
            body = "\n\n".join(_fill(b, module.SLOTS, picks, rng) for b in rng.sample(bodies, parts))
            if rng.random() < 0.15:  # feedback forms and chats often have no title
                title, body = "", f"{title}\n\n{body}".strip()
            if (title, body) not in seen:
                seen.add((title, body))
                records.append({"title": title, "body": body, "issue_type": label})
    return records


def seed_records(per_class: int = RECORDS_PER_CLASS, seed: int = 7) -> list[dict[str, Any]]:
    """The seed corpus: `per_class` records per issue type in English and again in Chinese."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    return _records(seed_en, per_class, rng) + _records(seed_zh, per_class, rng)


def build_default_model(directory: Path = DEFAULT_MODEL_DIR) -> IssueTypeModel:
    model = IssueTypeModel.train(seed_records(), SEED_CONFIG)
    model.save(directory)
    return model


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL_DIR
    built = build_default_model(target)
    print(f"default model: {built.info['records']} records, {built.info['n_features']} features -> {target}")

"""Reading a customer's message with the intent model: one request, several, an ambiguous one, or none in scope.

A message is cut where English or Chinese joins two requests (sentence ends, "; ", "and also", "then", "另外",
"还有", "然后" …) and every piece long enough to ask for something is classified with the whole. Two or more
pieces naming different in-scope intents make it `multi` (in message order); otherwise the whole message decides:
`oos`, `ambiguous` (the best intent is unsure, or a second one is close behind, or the model names the intent
`ambiguous`), or `single`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from loopdesk.support.intents.model import AMBIGUOUS, OUT_OF_SCOPE, IntentModel, IntentPrediction
from loopdesk.triage.issue_type.text import CJK_CHARS

Kind = Literal["single", "multi", "ambiguous", "oos"]

_EN_JOINS = r"and also|and then|also|then|plus|additionally|besides that|as well as|and"
_ZH_JOINS = r"另外|还有|然后|并且|顺便|此外|同时|而且"
_ZH_AFTER_COMMA = r"再|接着|之后"  # "then" only after a comma: 再见 is no join
_SPLIT = re.compile(
    rf"(?:[.!?]+(?=\s|$)|[。！？；;\n]+|[,，、]?\s*(?:\b(?:{_EN_JOINS})\b|(?:{_ZH_JOINS}))|[,，]\s*(?:{_ZH_AFTER_COMMA}))",
    re.IGNORECASE,
)
_WORD = re.compile(rf"[{CJK_CHARS}]|[^\W\d_{CJK_CHARS}]{{2,}}")
_ID = re.compile(r"(?<![\w-])[A-Za-z]*[-_]?\d[\w-]*")  # A1002, C-4411, T-5003, 20: what a request acts on
_TRIM = " \t\n,，、.;:。！？!?；"
MIN_SEGMENT_WORDS = 3  # fewer words (or Chinese characters) than this cannot ask for anything alone


@dataclass(frozen=True, slots=True)
class MessageReading:
    kind: Kind
    parts: list[tuple[str, IntentPrediction]] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        return [prediction.intent for _, prediction in self.parts]


def segments(text: str) -> list[str]:
    """The pieces of `text` between joining words, in order; a piece too short to stand alone is kept together
    with its neighbour, joining word included."""
    spans, start = [], 0
    for match in _SPLIT.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for begin, end in spans:
        if carry is None and not text[begin:end].strip(_TRIM):
            continue  # between two joins ("? Also")
        begin = begin if carry is None else carry
        if not _stands_alone(text[begin:end]):
            carry = begin
            continue
        merged.append((begin, end))
        carry = None
    if carry is not None:
        if merged:
            merged[-1] = (merged[-1][0], len(text))
        else:
            merged.append((carry, len(text)))
    return [piece for begin, end in merged if (piece := text[begin:end].strip(_TRIM))]


def _stands_alone(piece: str) -> bool:
    """Enough to ask for something alone: three words (or Chinese characters), or a word and what it acts on
    ("cancel A1001", "add 5 seats"), so "salt and pepper" stays one piece and "where is A1002 and cancel A1001"
    is two."""
    words = len(_WORD.findall(piece))
    return words >= MIN_SEGMENT_WORDS or (words >= 1 and _ID.search(piece) is not None)


def is_ambiguous(model: IntentModel, prediction: IntentPrediction) -> bool:
    if prediction.intent == AMBIGUOUS:
        return True
    if prediction.intent == OUT_OF_SCOPE:
        return False
    if prediction.confidence < model.ambiguous_confidence:
        return True
    ranked = prediction.in_scope_alternatives()
    return len(ranked) > 1 and ranked[0][1] - ranked[1][1] < model.ambiguous_margin


def _clear(model: IntentModel, prediction: IntentPrediction) -> bool:
    return prediction.intent != OUT_OF_SCOPE and not is_ambiguous(model, prediction)


def read_message(model: IntentModel, text: str) -> MessageReading:
    text = text.strip()
    if not _WORD.search(text):  # nothing to read: no words at all
        return MessageReading("oos")
    pieces = segments(text)
    candidates = [text] + (pieces if len(pieces) > 1 else [])
    whole, *per_piece = model.predict(candidates)
    parts: list[tuple[str, IntentPrediction]] = []
    for piece, prediction in zip(pieces if per_piece else [], per_piece, strict=True):
        if _clear(model, prediction) and prediction.intent not in {p.intent for _, p in parts}:
            parts.append((piece, prediction))
    if len(parts) > 1:
        return MessageReading("multi", parts)
    if _clear(model, whole):
        return MessageReading("single", [(text, whole)])
    if parts:  # one piece asks clearly for something; the rest is greeting or context
        return MessageReading("single", parts)
    if whole.intent == OUT_OF_SCOPE:
        return MessageReading("oos", [(text, whole)])
    return MessageReading("ambiguous", [(text, whole)])

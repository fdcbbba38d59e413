"""Text preparation for de-duplication: what is hashed, what is embedded, which script it is in.
Pure functions, safe on any input (empty, megabytes long, binary junk)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

# C0/C1 controls except tab and newline; the C engine reads NUL as end of string.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_ALNUM = re.compile(r"[^\W_]")
EXCERPT_CHARS = 500


@dataclass(frozen=True, slots=True)
class PreparedText:
    text: str  # cleaned and cut to the embedder's budget
    text_hash: str  # of the normalised full text: equal hashes are exact duplicates
    script: str  # "cjk" or "latin": cross-script pairs score lower with the same meaning
    excerpt: str


class NoText(ValueError):
    """Nothing left to compare once control characters and whitespace are gone."""


def clean(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # Lone surrogates (from JSON \ud800 escapes) cannot be encoded to UTF-8 for the engine.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()


def script_of(text: str) -> str:
    sample = text[:2000]
    letters = sum(1 for ch in sample if ch.isalpha())
    return "cjk" if letters and len(_CJK.findall(sample)) * 2 >= letters else "latin"


def text_hash(cleaned: str) -> str:
    normalised = unicodedata.normalize("NFKC", cleaned).casefold()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def prepare(text: str | bytes, *, max_chars: int) -> PreparedText:
    """Raise NoText when there is nothing to compare; otherwise the text cut to `max_chars`
    (the first part of a report is what tells duplicates apart; embedding 1 MB takes minutes)."""
    cleaned = clean(text)
    if not _ALNUM.search(cleaned):
        raise NoText("no letters or digits in the text")
    return PreparedText(
        text=cleaned[:max_chars],
        text_hash=text_hash(cleaned),
        script=script_of(cleaned),
        excerpt=cleaned[:EXCERPT_CHARS],
    )

"""Turn raw `{title, body}` input into the bounded, cleaned strings the features read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Long bodies are mostly logs: the first few KB carry the label, and the cap bounds regex and n-gram cost.
MAX_INPUT_CHARS = 100_000
MAX_TITLE_CHARS = 1_000
MAX_FEATURE_CHARS = 5_000
MAX_RULE_CHARS = 20_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]+")
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_NO_RESPONSE = re.compile(r"_No response_", re.I)
_URL = re.compile(r"https?://\S+")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_SPACE = re.compile(r"[ \t]+")
# Han, kana and hangul: spaced out so that word n-grams see Chinese / Japanese as character uni- and bigrams.
CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK = re.compile(f"([{CJK_CHARS}])")
WORD_TOKEN_PATTERN = rf"(?u)\b\w\w+\b|[{CJK_CHARS}]"


class InvalidItem(ValueError):
    """An input item that cannot be classified; `code` is stable for callers, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Document:
    """One item, cleaned: `title` and `body` for n-grams, `raw_body` (code kept) for the rules."""

    title: str
    body: str
    raw_body: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.raw_body}"


def _as_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidItem("invalid_field", f"{field} must be a string, not {type(value).__name__}")


def sanitize(text: str, limit: int) -> str:
    return _CONTROL.sub(" ", text[:limit])


def clean_body(body: str) -> str:
    """Markdown body without comments, empty template answers, URLs and code blocks (kept as a CODEBLOCK token)."""
    text = _COMMENT.sub(" ", body)
    text = _NO_RESPONSE.sub(" ", text)
    text = _URL.sub(" URL ", text)
    text = _FENCE.sub(" CODEBLOCK ", text)
    return _SPACE.sub(" ", text)[:MAX_FEATURE_CHARS]


def to_document(item: Any) -> Document:
    """Validate one input item (a mapping with `title` and/or `body`); raises InvalidItem."""
    if not isinstance(item, dict):
        raise InvalidItem("invalid_item", f"expected a JSON object, got {type(item).__name__}")
    title = sanitize(_as_text(item.get("title"), "title"), MAX_TITLE_CHARS).strip()
    raw_body = sanitize(_as_text(item.get("body"), "body"), MAX_INPUT_CHARS)
    if not title and not raw_body.strip():
        raise InvalidItem("empty_text", "title and body are both empty")
    return Document(title=title, body=clean_body(raw_body), raw_body=raw_body[:MAX_RULE_CHARS])


def space_cjk(text: str) -> str:
    return _CJK.sub(r" \1 ", text)

"""Filling one tool's arguments from one message: named values, then shaped ones, then free text (quotes,
introduced phrases, what is left)."""

from __future__ import annotations

import re
from typing import Any

from loopdesk.llm.offline.profile import _named, _Prop, _Tool
from loopdesk.llm.offline.values import _coerce_number, _Mention, _number, _Reader
from loopdesk.llm.offline.words import _CONCEPTS, _STOP, _SURFACE, _blank, _stem, _tokenize, _words

_CLAUSE_BREAK = re.compile(r"[,;!?，。；：！？、\n\x00]|[.:](?=\s|$)|\s[-–—]\s")
_QUERY_WORDS = frozenset({"query", "q", "search", "keyword", "keywords", "term", "terms", "question", "topic"})
_REASON_WORDS = frozenset({"reason", "why", "cause", "explanation", "motive"})
_TITLE_WORDS = frozenset({"title", "subject", "summary", "headline"})
_INTRODUCERS = {
    "query": re.compile(r"\b(?:for|about|on|regarding)\b|关于", re.IGNORECASE),
    "reason": re.compile(r"\b(?:because|due to|reason being)\b|因为|由于|原因是", re.IGNORECASE),
    "title": re.compile(r"\b(?:titled|called|named|saying|that says)\b|标题是", re.IGNORECASE),
}
_KIND_ORDER = ("pattern", "uuid", "email", "url", "datetime", "date", "id", "enum", "bool", "number")
_FREE_KINDS = ("token", "place", "text")  # strings without a shape: filled last, from what the others left


class _Extractor(_Reader):
    """Fills one tool's arguments from one message; every value taken is marked so no other argument reuses it."""

    def run(self) -> tuple[dict[str, Any], list[_Prop]]:
        args: dict[str, Any] = {}
        free = [p for p in self.tool.props if p.kind in _FREE_KINDS]
        for prop in free:  # named free text first: its words are not values for other arguments
            if found := _named(self.text, prop):
                value, (start, end), _ = found
                self.protected.append((start, end))
                args[prop.name] = self.take(_Mention(start, end, value))
        for kind in _KIND_ORDER:
            props = [p for p in self.tool.props if p.kind == kind and p.name not in args]
            for prop in sorted(props, key=lambda p: {"source": 0, None: 1, "target": 2}[p.role]):
                value = self.extract(prop)
                if value is not None:
                    args[prop.name] = value
        # Free strings: every explicit form (quotes, "titled ...", "in Paris") before any guess from leftovers.
        for phase in (self.explicit, self.leftover):
            for prop in [p for p in free if p.name not in args]:
                value = phase(prop)
                if value is not None:
                    args[prop.name] = value
        missing = [p for p in self.tool.required if p.name not in args]
        return args, missing

    def extract(self, prop: _Prop) -> Any:
        if prop.kind not in _FREE_KINDS and (named := _named(self.text, prop)):
            raw, (start, end), _ = named
            parsed = self.parse_named(prop, raw)
            if parsed is not None:
                return self.take(_Mention(start, end, parsed))
        return getattr(self, f"kind_{prop.kind}")(prop)

    def parse_named(self, prop: _Prop, raw: str) -> Any:
        """`limit: 5` is explicit, so even an optional argument takes it (as an answer would)."""
        sub = _Extractor(raw, _Tool(self.tool.name, "", [prop]), answering=[prop.name])
        value = getattr(sub, f"kind_{prop.kind}")(prop)
        if value is None and prop.kind in ("id", "pattern") and re.fullmatch(r"[\w-]+", raw):
            value = _coerce_number(_number(raw), prop.schema) if raw.isdigit() else raw
        return value

    # ----- free text
    def explicit(self, prop: _Prop) -> Any:
        for (start, end), value in self.quotes:
            if self.free(start, end, protected=False):
                return self.take(_Mention(start, end, value))
        if prop.kind == "token":
            return self.token_after_name(prop) or self.slash_token(prop)
        if prop.kind == "place":
            return self.place(prop)
        words = prop.words
        kinds = (("query", _QUERY_WORDS), ("reason", _REASON_WORDS), ("title", _TITLE_WORDS))
        subkind = next((kind for kind, names in kinds if words & names), None)
        return self.introduced(subkind, prop) if subkind and self.wanted(prop) else None

    def leftover(self, prop: _Prop) -> Any:
        if not self.wanted(prop):
            return None
        if self.answering == [prop.name]:
            whole = _blank(self.text, self.consumed).strip(" \t\n.!?。！？")
            if whole and (prop.kind != "token" or len(whole.split()) == 1):
                return self.take(_Mention(0, len(self.text), re.sub(r"\s{2,}", " ", whole)))
        return self.residual(single=prop.kind == "token")

    def place(self, prop: _Prop) -> Any:
        capital = r"[A-Z][\w'’.-]*(?:\s+(?:[A-Z][\w'’.-]*|de|da|del|la|le|upon))*"
        for match in re.finditer(rf"\b(?:in|at|for|near|of|to)\s+({capital})", self.text):
            if self.free(*match.span(1)):
                return self.take(_Mention(*match.span(1), match.group(1).rstrip(".")))
        tokens = _tokenize(self.text)
        for index, token in enumerate(tokens):
            capitalised = token.text[:1].isupper() and index > 0 and not (token.keys & set(_CONCEPTS))
            if (token.unknown_cjk or capitalised) and token.keys and self.free(token.start, token.end):
                return self.take(_Mention(token.start, token.end, token.text))
        return None

    def token_after_name(self, prop: _Prop) -> Any:
        """`repo acme/web`, `user octocat`, `branch main`: the word right after the property's name."""
        names = set(_words(prop.name)) | {w[:-4] for w in _words(prop.name) if w.endswith("name") and len(w) > 4}
        names |= {w for n in list(names) for c in _SURFACE.get(_stem(n), ()) for w in _CONCEPTS[c] if w.isascii()}
        pattern = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
        for match in re.finditer(rf"(?<![\w-])(?:{pattern})s?\s*[:=]?\s+([\w@][\w./@-]*\w)", self.text, re.I):
            value = match.group(1)
            if value.lower() not in _STOP and self.free(*match.span(1)):
                return self.take(_Mention(*match.span(1), value))
        return None

    def slash_token(self, prop: _Prop) -> Any:
        for match in re.finditer(r"(?<![\w/:.-])[\w.-]+/[\w./-]*\w", self.text):
            if self.free(*match.span()):
                return self.take(_Mention(*match.span(), match.group()))
        return None

    def clauses(self) -> list[tuple[int, int]]:
        blanked = _blank(self.text, self.consumed, "\x00")
        bounds, start = [], 0
        for match in _CLAUSE_BREAK.finditer(blanked):
            bounds.append((start, match.start()))
            start = match.end()
        bounds.append((start, len(blanked)))
        return [(s, e) for s, e in bounds if blanked[s:e].strip(" \x00")]

    def introduced(self, subkind: str, prop: _Prop) -> Any:
        name = r"\s+".join(map(re.escape, _words(prop.name)))
        own = re.compile(rf"\b(?:with|and)\s+(?:the\s+|a\s+)?{name}\b", re.IGNORECASE)  # "with subject Q3 numbers"
        patterns = [_INTRODUCERS[subkind], own] if subkind == "title" else [_INTRODUCERS[subkind]]
        for start, end in self.clauses():
            clause = self.text[start:end]
            for match in (m for pattern in patterns for m in pattern.finditer(clause)):
                before = [t for t in _tokenize(clause[: match.start()]) if t.keys]
                if subkind == "query" and any(not (t.keys & self.tool.triggers) for t in before):
                    continue  # "for" only introduces a query right after the command ("search the docs for")
                tail = [t for t in _tokenize(clause[match.end() :]) if t.keys and not (t.keys & self.tool.triggers)]
                if not tail or not self.free(start + match.end(), end):
                    continue
                last = start + match.end() + tail[-1].end  # "about refunds in the docs" -> "refunds"
                value = self.text[start + match.end() : last].strip(" \t:：,")
                if value:
                    return self.take(_Mention(start + match.end(), last, value))
        return None

    def residual(self, *, single: bool = False) -> Any:
        """What is left of the longest clause once command words, stopwords and taken values are removed
        (`single`: only its first word, for identifier-like values)."""
        best: tuple[int, int, int] | None = None
        for start, end in self.clauses():
            inside = [(max(0, s - start), min(end, e) - start) for s, e in self.consumed if s < end and e > start]
            kept = [
                t
                for t in _tokenize(_blank(self.text[start:end], inside))
                if t.keys and not (t.keys & self.tool.triggers)
            ]
            if not kept:
                continue
            weight = sum(t.weight for t in kept)
            first, last = start + kept[0].start, start + kept[-1].end
            if best is None or weight > best[0]:
                best = (weight, first, last)
        if best is None:
            return None
        _, first, last = best
        if single:
            word = re.match(r"[^\s,;，。；]+", self.text[first:])
            last = first + len(word.group().rstrip(".!?:")) if word else last
        value = self.text[first:last].strip()
        return self.take(_Mention(first, last, value)) if value else None


def _extract(text: str, tool: _Tool, answering: list[str] | None = None) -> tuple[dict[str, Any], list[_Prop]]:
    return _Extractor(text, tool, answering).run()

"""Reading a message for a tool's arguments: the spans already taken, and the values with a shape (ids, emails,
dates, enums, booleans, numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from loopdesk.llm.offline.profile import _Prop, _Tool
from loopdesk.llm.offline.words import (
    _CODE_ID,
    _CONCEPTS,
    _DATE,
    _DATETIME,
    _EMAIL,
    _ENUM_SYNONYMS,
    _EXAMPLE,
    _MONEY,
    _QUOTED,
    _SOURCE_MARKERS,
    _SURFACE,
    _TARGET_MARKERS,
    _URL,
    _UUID,
    _blank,
    _search_pattern,
    _spans,
    _stem,
    _tokenize,
    _words,
)

_HASH_ID = re.compile(r"#\s?(\d+)\b")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![A-Za-z0-9_]|\.\d)")
_POSITIVE = ("enable", "turn on", "switch on", "activate", "start", "resume", "unmute", "开启", "打开", "启用")
_NEGATIVE = (
    "disable", "turn off", "switch off", "deactivate", "stop", "pause", "mute", "don't", "do not", "never",
    "关闭", "关掉", "停用", "不要",
)  # fmt: skip
_ID_WORDS = frozenset({"id", "identifier", "ref", "reference", "number", "no", "num", "code"})
_AMOUNT_WORDS = frozenset({"amount", "price", "cost", "total", "sum", "money", "value", "金额"})
_COUNT_WORDS = frozenset({"limit", "count", "top", "max", "n", "number", "quantity", "size", "page", "k", "results"})
_COUNT_HINTS = frozenset({"top", "last", "first", "limit", "max", "results", "result", "items", "最近", "前"})


_LETTERS = re.compile(r"([A-Za-z]+)[-_]?\d")


def _prefix_fits(value: str, prop: Any) -> bool:
    """An id with letters in front fits an argument whose example has other letters in front only if it is
    not an id of something else: "T-5003" is no dispute id when dispute ids look like "D-1001" (a bare number
    fits any: "order 77")."""
    shown = _EXAMPLE.search(str(prop.schema.get("description") or ""))
    example = _LETTERS.match(shown.group(1)) if shown else None
    own = _LETTERS.match(value)
    return example is None or own is None or own.group(1).upper() == example.group(1).upper()


@dataclass
class _Mention:
    start: int
    end: int
    value: Any
    role: str | None = None
    consumed: tuple[int, int] | None = None  # wider span to drop from free text (e.g. "25 dollars")


def _role(text: str, start: int) -> str | None:
    before = _tokenize(text[max(0, start - 24) : start])
    for token in reversed(before[-2:]):
        word = token.text.lower()
        if word in _TARGET_MARKERS:
            return "target"
        if word in _SOURCE_MARKERS:
            return "source"
    return None


def _number(raw: str) -> float | int:
    value = float(raw.replace(",", ""))
    return int(value) if value.is_integer() else value


def _coerce_number(value: float | int, schema: dict[str, Any]) -> float | int | None:
    if schema.get("type") == "integer":
        return int(value) if float(value).is_integer() else None
    return value


class _Reader:
    """A message read for one tool's arguments: what is taken so far, and the readers of shaped values (`kind_*`)."""

    def __init__(self, text: str, tool: _Tool, answering: list[str] | None = None) -> None:
        self.text = text
        self.tool = tool
        self.answering = answering  # the properties a pending question asked for
        self.used: list[tuple[int, int]] = []
        self.consumed: list[tuple[int, int]] = []
        self.quotes = [(m.span(), next(g for g in m.groups() if g)) for m in _QUOTED.finditer(text)]
        self.protected = [span for span, _ in self.quotes]
        for pattern in (_EMAIL, _URL, _UUID, _DATETIME, _DATE, _CODE_ID):
            self.protected += _spans(pattern, text)

    def free(self, start: int, end: int, *, protected: bool = True) -> bool:
        spans = self.used + (self.protected if protected else [])
        return all(end <= s or start >= e for s, e in spans)

    def take(self, mention: _Mention) -> Any:
        self.used.append((mention.start, mention.end))
        self.consumed.append(mention.consumed or (mention.start, mention.end))
        return mention.value

    def wanted(self, prop: _Prop) -> bool:
        return prop.required or bool(self.answering and prop.name in self.answering)

    # ----- assignment shared by the typed kinds
    def pick(self, prop: _Prop, mentions: list[_Mention], *, protected: bool = False) -> Any:
        free = [m for m in mentions if self.free(m.start, m.end, protected=protected)]
        if not free:
            return None
        role = prop.role
        if role:
            same = [m for m in free if m.role == role]
            neutral = [m for m in free if m.role is None]
            pool = same or neutral
            if not pool:
                return None
            return self.take(pool[0] if role == "source" else pool[-1])
        return self.take(free[0])

    def regex_mentions(self, pattern: re.Pattern[str], convert: Any = None) -> list[_Mention]:
        mentions = []
        for match in pattern.finditer(self.text):
            value = convert(match) if convert else match.group()
            if value is not None:
                mentions.append(_Mention(match.start(), match.end(), value, _role(self.text, match.start())))
        return mentions

    def quoted_free(self, start: int, end: int) -> bool:
        return all(end <= s or start >= e for (s, e), _ in self.quotes)

    def kind_pattern(self, prop: _Prop) -> Any:
        pattern = prop.schema["pattern"]
        match = _search_pattern(pattern, self.text)
        if not match or not self.free(*match.span(), protected=False) or not self.quoted_free(*match.span()):
            return None
        value = match.group()
        if not re.search(pattern, value) and re.search(pattern, value.upper()):
            value = value.upper()
        return self.take(_Mention(*match.span(), value))

    def kind_uuid(self, prop: _Prop) -> Any:
        return self.pick(prop, self.regex_mentions(_UUID, lambda m: m.group().lower()))

    def kind_email(self, prop: _Prop) -> Any:
        return self.pick(prop, self.regex_mentions(_EMAIL))

    def kind_url(self, prop: _Prop) -> Any:
        return self.pick(prop, self.regex_mentions(_URL, lambda m: m.group().rstrip(".,;:!?")))

    def kind_datetime(self, prop: _Prop) -> Any:
        return self.pick(prop, self.regex_mentions(_DATETIME))

    def kind_date(self, prop: _Prop) -> Any:
        def iso(match: re.Match[str]) -> str | None:
            parts = [g for g in match.groups() if g]
            try:
                return date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
            except ValueError:
                return None

        dates = self.regex_mentions(_DATE, iso)
        datetimes = _spans(_DATETIME, self.text)
        dates = [m for m in dates if all(m.end <= s or m.start >= e for s, e in datetimes)]
        return self.pick(prop, dates)

    def kind_id(self, prop: _Prop) -> Any:
        entity = [w for w in _words(prop.name) if w not in _ID_WORDS]
        synonyms = {w for e in entity for c in _SURFACE.get(_stem(e), ()) for w in _CONCEPTS[c]} | set(entity)
        mentions: list[_Mention] = []
        if synonyms:
            names = "|".join(sorted(map(re.escape, synonyms), key=len, reverse=True))
            label = r"(?:(?:id|number|no\.?|num|is|was|编号|号)\s*)?[:#]?"  # "order no. 42", "订单编号 42"
            pattern = re.compile(rf"(?<![A-Za-z])(?:{names})s?(?![A-Za-z])\s*{label}\s*([A-Za-z0-9][\w-]*)", re.I)
            for match in pattern.finditer(self.text):
                value = match.group(1)
                if re.search(r"\d", value) and self.free(*match.span(1), protected=False):
                    mentions.append(_Mention(match.start(1), match.end(1), value))
        mentions += self.regex_mentions(_CODE_ID)
        mentions += [_Mention(m.start(), m.end(), m.group(1)) for m in _HASH_ID.finditer(self.text)]
        if prop.schema.get("type") == "integer" or not mentions:
            mentions += [
                _Mention(*m.span(), m.group()) for m in re.finditer(r"(?<![\w.$€£¥-])\d{3,}(?![\w.])", self.text)
            ]
        typed = [span for pattern in (_EMAIL, _URL, _UUID, _DATE) for span in _spans(pattern, self.text)]
        for mention in mentions:
            spans_ok = all(mention.end <= s or mention.start >= e for s, e in typed)
            if not spans_ok or not self.free(mention.start, mention.end, protected=False):
                continue
            if not self.quoted_free(mention.start, mention.end):
                continue
            value = mention.value.lstrip("#")
            if not _prefix_fits(value, prop):
                continue
            if prop.schema.get("type") == "integer":
                if not value.isdigit():
                    continue
                value = int(value)
            return self.take(_Mention(mention.start, mention.end, value))
        return None

    def enum_mentions(self, prop: _Prop) -> list[_Mention]:
        mentions = []
        for value in prop.schema.get("enum") or []:
            text = str(value)
            forms = {text, text.replace("_", " "), text.replace("-", " "), *_ENUM_SYNONYMS.get(text.lower(), ())}
            for form in forms:
                if re.fullmatch(r"[\w ]+", form) and form.isascii():
                    body = r"[\s_-]+".join(map(re.escape, form.split()))
                    pattern = rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])"
                else:
                    pattern = re.escape(form)
                for match in re.finditer(pattern, self.text, re.IGNORECASE):
                    if self.quoted_free(*match.span()):
                        mentions.append(_Mention(*match.span(), value, _role(self.text, match.start())))
        mentions.sort(key=lambda m: (m.start, -(m.end - m.start)))
        kept: list[_Mention] = []
        for mention in mentions:  # the longest form at each place ("中优先级" over "中")
            if all(mention.start >= k.end or mention.end <= k.start for k in kept):
                kept.append(mention)
        return kept

    def kind_enum(self, prop: _Prop) -> Any:
        value = self.pick(prop, self.enum_mentions(prop), protected=False)
        if value is not None or prop.role or not self.wanted(prop):
            return value
        return self.enum_by_words(prop)

    def enum_by_words(self, prop: _Prop) -> Any:
        """No value named outright: the one whose words the message has most of ("too expensive" -> 贵)."""
        keys = {key for token in _tokenize(_blank(self.text, self.used)) for key in token.keys}
        scored = []
        for value in prop.schema.get("enum") or []:
            wanted = {key for token in _tokenize(" ".join(_words(str(value)))) for key in token.keys}
            if wanted:
                scored.append((len(wanted & keys) / len(wanted), value))
        scored.sort(key=lambda item: -item[0])
        if scored and scored[0][0] >= 0.5 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            return scored[0][1]
        return None

    def kind_bool(self, prop: _Prop) -> Any:
        lowered = self.text.lower()
        names = [w for w in _words(prop.name) if w not in ("is", "enabled", "enable", "should")]
        single = sum(p.kind == "bool" for p in self.tool.props) == 1
        if not single and not any(n in lowered for n in names):
            return None
        if any(re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered) for word in _NEGATIVE):
            return False
        if any(re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lowered) for word in _POSITIVE):
            return True
        if self.answering and prop.name in self.answering:  # the reply to "enabled?" can be a bare yes / no
            if re.search(r"\b(yes|yeah|sure|true|on)\b|是|对|好", lowered):
                return True
            if re.search(r"\b(no|nope|false|off)\b|否|不", lowered):
                return False
        return None

    def kind_number(self, prop: _Prop) -> Any:
        words = prop.words | {_stem(w) for w in prop.words}
        description = str(prop.schema.get("description") or "").lower()
        amount_like = bool(words & _AMOUNT_WORDS) or any(w in description for w in ("amount", "price", "money"))
        count_like = bool(words & _COUNT_WORDS) and not amount_like
        money = {}
        for match in _MONEY.finditer(self.text):
            group = "a" if match.group("a") else "b"
            money[match.start(group)] = match.span()
        tokens = _tokenize(self.text)
        best: tuple[float, _Mention] | None = None
        for match in _NUMBER.finditer(self.text):
            start, end = match.span(1)
            if not self.free(start, end):
                continue
            value = _coerce_number(_number(match.group(1)), prop.schema)
            if value is None:
                continue
            score = 0.0
            near = {
                _stem(t.text)
                for t in tokens
                if (t.end <= start and t.end >= start - 16) or (t.start >= end and t.start <= end + 16)
            }
            near |= {t.text.lower() for t in tokens if t.end <= start and t.end >= start - 16}
            if near & (words | _COUNT_HINTS if count_like else words):
                score += 2
            if start in money:
                score += 3 if amount_like else -3
            elif start > 0 and self.text[start - 1] == "#":  # "#42" refers to something: never an amount
                score += -3 if amount_like else 2
            elif count_like:
                score += 1
            if score < 2 and not self.wanted(prop):  # an optional number needs a reason: "top 3", "limit 5"
                continue
            mention = _Mention(start, end, value, _role(self.text, start), money.get(start))
            if best is None or score > best[0]:
                best = (score, mention)
        return self.take(best[1]) if best else None

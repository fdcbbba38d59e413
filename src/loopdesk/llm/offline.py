"""The default model when no provider is configured: no network, it maps a request onto a bound tool.

It chooses the tool whose name and description best match the message (concepts, idf-weighted), fills the
arguments from the message by each property's JSON schema, asks for missing required ones (carried in
`additional_kwargs["offline_pending"]`), and answers from tool results. Stateless: all from the messages.
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from loopdesk.llm.scripted import LocalChatModel

PREFIX = "(offline model) "
PENDING_KEY = "offline_pending"

# ---------------------------------------------------------------------------------------------- lexicon
# Words meaning the same thing for matching; Chinese words map onto the same concepts as the English ones.
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "order": ("order", "purchase", "订单", "购买"),
    "refund": ("refund", "reimburse", "reimbursement", "chargeback", "退款", "退钱"),
    "cancel": (
        "cancel", "cancelled", "canceled", "cancelling", "canceling", "cancellation", "terminate", "unsubscribe",
        "取消", "退订",
    ),
    "subscription": ("subscription", "subscribe", "unsubscribe", "plan", "membership", "订阅", "会员", "套餐"),
    "get": (
        "get", "show", "check", "status", "where", "track", "view", "see", "look", "lookup", "fetch", "retrieve",
        "detail", "details", "info", "查询", "查看", "查", "状态", "哪", "哪里", "在哪",
    ),
    "list": ("list", "show", "all", "history", "recent", "last", "列出", "所有", "最近"),
    "search": ("search", "find", "查找", "搜索", "搜", "找"),
    "doc": ("doc", "docs", "documentation", "article", "guide", "manual", "faq", "tutorial", "文档", "教程", "帮助"),
    "ticket": (
        "ticket", "issue", "bug", "problem", "complaint", "incident", "escalate", "工单", "问题", "故障", "投诉",
    ),
    "create": ("create", "open", "file", "new", "submit", "raise", "make", "add", "创建", "新建", "提交"),
    "weather": (
        "weather", "forecast", "temperature", "rain", "raining", "sunny", "snow", "snowing", "degrees",
        "天气", "气温", "温度", "下雨",
    ),
    "convert": ("convert", "conversion", "exchange", "转换", "兑换", "换算", "换成", "转成"),
    "currency": (
        "currency", "currencies", "money", "rate", "usd", "eur", "gbp", "jpy", "cny", "rmb", "dollar", "euro",
        "pound", "yen", "yuan", "货币", "汇率", "美元", "欧元", "英镑", "日元", "人民币",
    ),
    "user": ("user", "account", "customer", "profile", "who", "用户", "账户", "账号", "客户"),
    "email": ("email", "e-mail", "mail", "邮箱", "邮件"),
    "notification": ("notification", "notifications", "notify", "alert", "newsletter", "通知", "提醒"),
    "toggle": ("enable", "disable", "turn", "switch", "mute", "unmute", "开启", "关闭", "打开", "关掉"),
    "report": ("report", "sales", "revenue", "stats", "statistics", "analytics", "报表", "销售", "报告"),
    "website": ("website", "site", "url", "link", "webpage", "uptime", "outage", "online", "网站", "网址"),
    "update": ("update", "change", "modify", "set", "edit", "修改", "更新", "设置"),
    "expensive": ("expensive", "pricey", "costly", "price", "cost", "贵", "太贵", "昂贵"),
    "priority": ("priority", "urgency", "优先级"),
    "amount": ("amount", "sum", "total", "金额"),
    "remind": ("remind", "reminder", "remember", "alarm"),
    "reason": ("reason", "why", "because", "原因", "因为"),
}  # fmt: skip
# Chinese words glossed as English ones, so they match English tool and enum vocabulary ("不用" ~ not_using).
_GLOSSES: dict[str, tuple[str, ...]] = {
    "不用": ("not", "using"),
    "不再用": ("not", "using"),
    "用不上": ("not", "using"),
    "缺少": ("missing",),
    "缺": ("missing",),
    "功能": ("features",),
    "换用": ("switching",),
    "换到": ("switching",),
    "供应商": ("provider",),
    "服务商": ("provider",),
    "其他": ("other",),
    "其它": ("other",),
}
# Verbs that say little about which tool is meant: they count, but cannot pick a tool alone.
_ACTIONS = frozenset({"get", "list", "create", "update"})
_PHRASES: dict[tuple[str, ...], str] = {
    ("money", "back"): "refund",
    ("how", "do", "i"): "search",
    ("how", "can", "i"): "search",
    ("how", "to"): "search",
    ("look", "up"): "get",
    ("turn", "off"): "toggle",
    ("turn", "on"): "toggle",
}
_STOP = frozenset(
    """a an the i me my mine we our ours you your yours he she him her it its they them their this that these those
    is are was were be been being am do does did doing have has had can could would should will shall may might must
    please pls kindly want wanna need needs like to of in on at for from by with about as into than then so and or
    but if just also too very really some any much many more most what whats what's which when how there here hi
    hello hey thanks thank ok okay yes yeah let lets let's tell give i'm im i'd i've it's don't dont can't won't
    isn't doesn't didn't help hmm hm um umm uh huh er eh well sure one now today currently current again still
    anymore someone something via per e.g eg
    我 我的 你 您 请 帮 帮我 一下 一个 的 了 吗 呢 吧 啊 是 在 把 给 要 想 我要 我想 今天 明天 现在 怎么样 如何 怎么
    到 和 与 这个 那个 这 那 能 可以 个 下 多少 什么 从 成 为""".split()
)
_ENUM_SYNONYMS: dict[str, tuple[str, ...]] = {
    "usd": ("usd", "us$", "$", "dollar", "dollars", "bucks", "美元", "美金"),
    "eur": ("eur", "€", "euro", "euros", "欧元"),
    "gbp": ("gbp", "£", "pound", "pounds", "sterling", "英镑"),
    "jpy": ("jpy", "yen", "日元", "円"),
    "cny": ("cny", "rmb", "yuan", "renminbi", "人民币", "元"),
    "high": ("high", "urgent", "critical", "asap", "emergency", "高", "紧急", "严重"),
    "medium": ("medium", "normal", "moderate", "中等", "普通", "中优先级"),
    "low": ("low", "minor", "trivial", "低", "不急"),
    "celsius": ("celsius", "°c", "centigrade", "metric", "摄氏"),
    "fahrenheit": ("fahrenheit", "°f", "imperial", "华氏"),
}
_SOURCE_MARKERS = frozenset({"from", "since", "starting", "after", "把", "从", "自"})
_TARGET_MARKERS = frozenset(
    {"to", "into", "in", "as", "until", "till", "through", "换成", "转成", "兑换成", "成", "至"}
)
_POSITIVE = ("enable", "turn on", "switch on", "activate", "start", "resume", "unmute", "开启", "打开", "启用")
_NEGATIVE = (
    "disable", "turn off", "switch off", "deactivate", "stop", "pause", "mute", "don't", "do not", "never",
    "关闭", "关掉", "停用", "不要",
)  # fmt: skip
_SMALL_TALK = re.compile(
    r"^\W*((hi|hello|hey|yo|hiya)( there| all| everyone)?|what'?s up|sup|thanks?( you)?( very much| a lot)?|cheers|"
    r"bye|goodbye|good (morning|afternoon|evening|night)|ok(ay)?|cool|great|nice|你好|您好|谢谢|再见|好的)\W*$",
    re.IGNORECASE,
)
_DISMISS = re.compile(
    r"^\W*(never ?mind|forget it|cancel( that| it)?|stop|no thanks|nothing|算了|不用了|取消)\W*$", re.I
)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_TOKEN = re.compile(rf"(?P<word>[A-Za-z]+(?:['’][A-Za-z]+)?)|(?P<num>\d+(?:[.,]\d+)*)|(?P<cjk>[{_CJK}]+)")
_CLAUSE_BREAK = re.compile(r"[,;!?，。；：！？、\n\x00]|[.:](?=\s|$)|\s[-–—]\s")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s<>\"'，。）)]+", re.IGNORECASE)
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_DATETIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b|(\d{4})年(\d{1,2})月(\d{1,2})[日号]")
_CODE_ID = re.compile(r"(?<![\w-])[A-Za-z]{2,6}(?:[-_]\d+|\d{2,})(?:[-_][A-Za-z0-9]+)*(?![\w-])")
_HASH_ID = re.compile(r"#\s?(\d+)\b")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![A-Za-z0-9_]|\.\d)")
_CURRENCY_WORD = r"usd|eur|gbp|jpy|cny|rmb|dollars?|bucks|euros?|pounds?|yen|yuan|美元|美金|欧元|英镑|日元|人民币|元|块"
_MONEY = re.compile(
    rf"(?P<pre>[$€£¥]|us\$|(?:usd|eur|gbp|jpy|cny|rmb)\s?)(?P<a>\d[\d,]*(?:\.\d+)?)"
    rf"|(?P<b>\d[\d,]*(?:\.\d+)?)\s?(?P<post>(?:{_CURRENCY_WORD})(?![A-Za-z]))",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"([^\"\n]+)\"|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|(?<![A-Za-z])'([^'\n]+)'(?![A-Za-z])")

_ID_WORDS = frozenset({"id", "identifier", "ref", "reference", "number", "no", "num", "code"})
_PLACE_WORDS = frozenset({"city", "location", "place", "town", "country", "region", "destination"})
# Strings that are one identifier-like word ("acme/web", "octocat", "main"), not a phrase.
_TOKEN_WORDS = frozenset(
    {"repo", "repository", "username", "user", "login", "handle", "slug", "branch", "sku", "path", "file", "filename",
     "key", "tag", "channel", "domain", "host", "hostname", "project", "package", "namespace", "team", "bucket"}
)  # fmt: skip
_QUERY_WORDS = frozenset({"query", "q", "search", "keyword", "keywords", "term", "terms", "question", "topic"})
_REASON_WORDS = frozenset({"reason", "why", "cause", "explanation", "motive"})
_TITLE_WORDS = frozenset({"title", "subject", "summary", "headline"})
_AMOUNT_WORDS = frozenset({"amount", "price", "cost", "total", "sum", "money", "value", "金额"})
_COUNT_WORDS = frozenset({"limit", "count", "top", "max", "n", "number", "quantity", "size", "page", "k", "results"})
_COUNT_HINTS = frozenset({"top", "last", "first", "limit", "max", "results", "result", "items", "最近", "前"})
_SOURCE_NAMES = frozenset({"from", "start", "begin", "since", "source", "src", "base", "origin", "min"})
_TARGET_NAMES = frozenset({"to", "end", "until", "target", "dest", "into", "max", "through"})
_INTRODUCERS = {
    "query": re.compile(r"\b(?:for|about|on|regarding)\b|关于", re.IGNORECASE),
    "reason": re.compile(r"\b(?:because|due to|reason being)\b|因为|由于|原因是", re.IGNORECASE),
    "title": re.compile(r"\b(?:titled|called|named|saying|that says)\b|标题是", re.IGNORECASE),
}

THRESHOLD = 2.0
_NAME, _DESCRIPTION, _PROPERTY, _PROPERTY_DESCRIPTION, _EVIDENCE = 3.0, 1.0, 0.6, 0.3, 0.6
_ACTION_FACTOR = 0.4
_FILL_BONUS = 1.0


def _stem(word: str) -> str:
    w = word.lower().replace("’", "'")
    if len(w) <= 3 or not w.isascii():
        return w
    stripped = False
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ing") and len(w) > 4:
        w, stripped = w[:-3], True
    elif w.endswith("ed") and len(w) > 4:
        w, stripped = w[:-2], True
    elif w.endswith("es") and len(w) > 4 and w[-3] in "sxzh":
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if stripped and len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # stopped -> stop
    elif stripped and len(w) <= 3 and w[-1] not in "aeiouy":
        w += "e"  # using -> use
    return w[:-1] if w.endswith("e") and len(w) > 3 else w


def _build_surface() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    surface: dict[str, set[str]] = {}
    for concept, words in _CONCEPTS.items():
        for word in words:
            surface.setdefault(_stem(word), set()).add(concept)
    cjk = {w for words in _CONCEPTS.values() for w in words} | set(_STOP)
    cjk |= {w for words in _ENUM_SYNONYMS.values() for w in words} | _SOURCE_MARKERS | _TARGET_MARKERS
    cjk |= {"优先级", "邮箱", "城市", "标题", "金额", "原因"} | set(_GLOSSES)
    for word, english in _GLOSSES.items():
        surface[word] = {key for w in english for key in surface.get(_stem(w), {_stem(w)})}
    cjk_words = frozenset(w for w in cjk if re.fullmatch(rf"[{_CJK}]+", w))
    return {key: frozenset(value) for key, value in surface.items()}, cjk_words


_SURFACE, _CJK_WORDS = _build_surface()
_CJK_LONGEST = max(len(word) for word in _CJK_WORDS)


# ---------------------------------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    keys: frozenset[str]  # concepts, else the stem (character bigrams for unknown Chinese); empty = stopword
    unknown_cjk: bool = False

    @property
    def weight(self) -> int:
        return max(1, len(self.text) // 2) if self.unknown_cjk else 1


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        if match.group("word"):
            word = match.group().lower().replace("’", "'")
            if re.fullmatch(r"[A-Z]{2,}s", match.group()):
                word = word[:-1]  # "PRs" -> "pr"
            keys = frozenset() if word in _STOP else _SURFACE.get(_stem(word), frozenset({_stem(word)}))
            tokens.append(_Token(match.group(), match.start(), match.end(), keys))
        elif match.group("num"):
            tokens.append(_Token(match.group(), match.start(), match.end(), frozenset({"#num"})))
        else:
            tokens.extend(_segment(match.group(), match.start()))
    return _apply_phrases(tokens)


def _segment(run: str, offset: int) -> list[_Token]:
    """Greedy longest match against the lexicon; characters it does not know stay together as one token."""
    tokens: list[_Token] = []
    unknown_from = None
    i = 0
    while i < len(run):
        for size in range(min(_CJK_LONGEST, len(run) - i), 0, -1):
            piece = run[i : i + size]
            if piece in _CJK_WORDS:
                break
        else:
            unknown_from = i if unknown_from is None else unknown_from
            i += 1
            continue
        if unknown_from is not None:
            tokens.append(_unknown(run[unknown_from:i], offset + unknown_from))
            unknown_from = None
        keys = frozenset() if piece in _STOP else _SURFACE.get(piece, frozenset({piece}))
        tokens.append(_Token(piece, offset + i, offset + i + size, keys))
        i += size
    if unknown_from is not None:
        tokens.append(_unknown(run[unknown_from:], offset + unknown_from))
    return tokens


def _unknown(text: str, start: int) -> _Token:
    keys = frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset({text})
    return _Token(text, start, start + len(text), keys, unknown_cjk=True)


def _apply_phrases(tokens: list[_Token]) -> list[_Token]:
    lowered = [t.text.lower().replace("’", "'") for t in tokens]
    result = list(tokens)
    for phrase, concept in _PHRASES.items():
        size = len(phrase)
        for i in range(len(tokens) - size + 1):
            if tuple(lowered[i : i + size]) == phrase:
                for j in range(i, i + size):
                    result[j] = _Token(tokens[j].text, tokens[j].start, tokens[j].end, frozenset({concept}))
    return result


def _words(identifier: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    return [w.lower() for w in re.split(r"[\s_\-.]+", spaced) if w]


# ---------------------------------------------------------------------------------------------- tools
@dataclass
class _Prop:
    name: str
    schema: dict[str, Any]
    kind: str
    required: bool

    @property
    def words(self) -> set[str]:
        return set(_words(self.name))

    @property
    def role(self) -> str | None:
        if self.words & _SOURCE_NAMES:
            return "source"
        if self.words & _TARGET_NAMES:
            return "target"
        return None

    @property
    def label(self) -> str:
        description = str(self.schema.get("description") or "").strip().rstrip(".")
        enum = self.schema.get("enum")
        details = [description] if description else []
        if enum:
            details.append("one of " + ", ".join(map(str, enum)))
        return f"{self.name} ({'; '.join(details)})" if details else self.name


@dataclass
class _Tool:
    name: str
    description: str
    props: list[_Prop]
    weights: dict[str, float] = field(default_factory=dict)
    triggers: frozenset[str] = frozenset()

    @property
    def required(self) -> list[_Prop]:
        return [p for p in self.props if p.required]

    @property
    def summary(self) -> str:
        first = re.split(r"(?<=[.!?])\s", self.description.strip(), maxsplit=1)[0].rstrip(".")
        return f"{self.name} ({first})" if first else self.name


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key) or [] if isinstance(s, dict) and s.get("type") != "null"]
        if options:
            return {**options[0], **{k: v for k, v in schema.items() if k != key}}
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"]
        return {**schema, "type": types[0] if types else "string"}
    return schema


def _kind(name: str, schema: dict[str, Any]) -> str:
    words = set(_words(name))
    description = str(schema.get("description") or "").lower()
    kind, fmt = schema.get("type", "string"), str(schema.get("format") or "")
    is_id = bool(words & {"id", "identifier", "ref", "reference"}) or (
        name.lower().endswith("number") and kind == "string"
    )
    if "enum" in schema:
        return "enum"
    if kind == "boolean":
        return "bool"
    if kind in ("integer", "number"):
        return "id" if is_id and kind == "integer" else "number"
    if fmt == "email" or "email" in words:
        return "email"
    if fmt in ("uri", "url", "iri") or words & {"url", "link", "website", "homepage", "endpoint", "site"}:
        return "url"
    if fmt == "uuid" or "uuid" in words or "uuid" in description:
        return "uuid"
    if fmt == "date-time":
        return "datetime"
    if fmt == "date" or "date" in words:
        return "date"
    if schema.get("pattern"):
        return "pattern"
    if is_id:
        return "id"
    if words & _PLACE_WORDS:
        return "place"
    return "token" if words & _TOKEN_WORDS else "text"


def _profile(tool: dict[str, Any]) -> _Tool:
    return _profile_of(json.dumps(tool, sort_keys=True, default=str))


@functools.lru_cache(maxsize=512)
def _profile_of(schema_json: str) -> _Tool:
    tool = json.loads(schema_json)
    function = tool.get("function", tool)
    parameters = function.get("parameters") or {}
    required = set(parameters.get("required") or [])
    props = []
    for name, raw in (parameters.get("properties") or {}).items():
        schema = _flatten(raw if isinstance(raw, dict) else {})
        props.append(_Prop(name, schema, _kind(name, schema), name in required))
    profile = _Tool(function.get("name", "tool"), str(function.get("description") or ""), props)
    weights: dict[str, float] = {}

    def add(text: str, weight: float) -> None:
        for token in _tokenize(text):
            for key in token.keys:
                weights[key] = max(weights.get(key, 0.0), weight)

    add(" ".join(_words(profile.name)), _NAME)
    name_words = [w for w in _words(profile.name) if w not in _STOP]
    for first, second in zip(name_words, name_words[1:], strict=False):
        weights.setdefault(first[0] + second[0], _NAME)  # pull_requests -> "PRs"
    triggers = set(weights)  # free text keeps other words: descriptions share too many with what users write
    add(profile.description, _DESCRIPTION)
    triggers |= {key for token in _tokenize(profile.description) for key in token.keys if key in _CONCEPTS}
    for prop in props:
        add(" ".join(_words(prop.name)), _PROPERTY)
        triggers |= {key for token in _tokenize(" ".join(_words(prop.name))) for key in token.keys}
        add(str(prop.schema.get("description") or ""), _PROPERTY_DESCRIPTION)
        add(" ".join(str(v) for v in prop.schema.get("enum") or []), _PROPERTY)
        if prop.required and prop.kind in ("email", "url", "uuid", "date", "datetime"):
            weights[f"type:{prop.kind}"] = _EVIDENCE
        if prop.required and prop.kind == "pattern":
            weights[f"pattern:{prop.schema['pattern']}"] = _EVIDENCE
    profile.weights = weights
    profile.triggers = frozenset(triggers | _ACTIONS)
    return profile


# ---------------------------------------------------------------------------------------------- choosing
def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _blank(text: str, spans: list[tuple[int, int]], fill: str = " ") -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = fill * (end - start)
    return "".join(chars)


def _named_spans(text: str, tools: list[_Tool]) -> list[tuple[int, int]]:
    """`name: value` pairs of any bound tool's property: data and its label, not words to choose a tool by."""
    spans = []
    for tool in tools:
        for prop in tool.props:
            if found := _named(text, prop):
                spans.append((found[2], found[1][1]))
    return spans


def _message_keys(text: str, tools: list[_Tool]) -> set[str]:
    masked = [*_spans(_QUOTED, text), *_spans(_EMAIL, text), *_spans(_URL, text), *_spans(_UUID, text)]
    masked += [*_spans(_MONEY, text), *_spans(_CODE_ID, text), *_named_spans(text, tools)]
    keys = {key for token in _tokenize(_blank(text, masked)) for key in token.keys}
    for kind, pattern in (("email", _EMAIL), ("url", _URL), ("uuid", _UUID), ("date", _DATE), ("datetime", _DATETIME)):
        if pattern.search(text):
            keys.add(f"type:{kind}")
    for tool in tools:
        for prop in tool.props:
            pattern = prop.schema.get("pattern")
            if pattern and _search_pattern(pattern, text):
                keys.add(f"pattern:{pattern}")
    return keys


def _scores(text: str, tools: list[_Tool]) -> list[tuple[float, float]]:
    """(score, score without action verbs) per tool: concept matches weighted by how rare they are among tools."""
    keys = _message_keys(text, tools)
    count = len(tools)
    frequency: dict[str, int] = {}
    for tool in tools:
        for key in tool.weights:
            frequency[key] = frequency.get(key, 0) + 1
    results = []
    for tool in tools:
        total = specific = 0.0
        for key in keys & tool.weights.keys():
            value = tool.weights[key] * (1 + math.log(count / frequency[key]))
            if key in _ACTIONS:
                total += value * _ACTION_FACTOR
            else:
                total += value
                specific += value
        results.append((total, specific))
    return results


def _forced(tool_choice: Any, tools: list[_Tool]) -> _Tool | str | None:
    if isinstance(tool_choice, dict):
        tool_choice = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    if tool_choice in ("none", False):
        return "none"
    if tool_choice in ("any", "required", True):
        return "any"
    return next((tool for tool in tools if tool.name == tool_choice), None)


@dataclass
class _Choice:
    tool: _Tool
    args: dict[str, Any]
    missing: list[_Prop]


def _choose(text: str, tools: list[_Tool], tool_choice: Any = None) -> _Choice | None:
    forced = _forced(tool_choice, tools)
    if forced == "none" or not tools:
        return None
    if isinstance(forced, _Tool):
        return _Choice(forced, *_extract(text, forced))
    best: tuple[float, int, _Choice] | None = None
    for index, (tool, (total, specific)) in enumerate(zip(tools, _scores(text, tools), strict=True)):
        if specific < THRESHOLD and forced != "any":
            continue
        args, missing = _extract(text, tool)
        filled = 1.0 - len(missing) / len(tool.required) if tool.required else 1.0
        ranked = (total + _FILL_BONUS * filled, -index, _Choice(tool, args, missing))
        if best is None or ranked[:2] > best[:2]:
            best = ranked
    return best[2] if best else None


# ---------------------------------------------------------------------------------------------- arguments
@dataclass
class _Mention:
    start: int
    end: int
    value: Any
    role: str | None = None
    consumed: tuple[int, int] | None = None  # wider span to drop from free text (e.g. "25 dollars")


_KIND_ORDER = ("pattern", "uuid", "email", "url", "datetime", "date", "id", "enum", "bool", "number")
_FREE_KINDS = ("token", "place", "text")  # strings without a shape: filled last, from what the others left


def _search_pattern(pattern: str, text: str) -> re.Match[str] | None:
    body = re.sub(r"^\^|\$$", "", pattern.replace(r"\A", "").replace(r"\Z", ""))
    try:
        return re.search(rf"(?<![\w-])(?:{body})(?![\w-])", text, re.IGNORECASE)
    except re.error:
        return None


def _named(text: str, prop: _Prop) -> tuple[str, tuple[int, int], int] | None:
    """`name: value`, `name is value` or `name "value"`: the value, its span and where the name starts."""
    name = r"[\s_-]*".join(map(re.escape, _words(prop.name)))
    quoted = r"\"([^\"\n]+)\"|“([^”\n]+)”|'([^'\n]+)'"
    pattern = rf"(?<![\w-]){name}\s*(?:(?:[:=]|\bis\b|\bwas\b)\s*(?:{quoted}|([^,;\n，。；]+))|(?:{quoted}))"
    match = re.search(pattern, text, re.IGNORECASE)
    if not match:
        return None
    for group in range(1, 8):
        if match.group(group):
            value = match.group(group).strip()
            end = match.start(group) + len(match.group(group).rstrip())
            if group == 4:  # unquoted: up to the clause end, without a sentence's final stop
                value = value.rstrip(".!?")
                end = match.start(group) + len(match.group(group).rstrip().rstrip(".!?"))
            return (value, (match.start(group), end), match.start()) if value else None
    return None


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


class _Extractor:
    """Fills one tool's arguments from one message; every value taken is marked so no other argument reuses it."""

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

    # ----- free text
    def wanted(self, prop: _Prop) -> bool:
        return prop.required or bool(self.answering and prop.name in self.answering)

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


# ---------------------------------------------------------------------------------------------- replies
def _call(tool: _Tool, args: dict[str, Any]) -> AIMessage:
    call_id = f"call_{uuid.uuid4().hex}"
    return AIMessage(content="", tool_calls=[{"name": tool.name, "args": args, "id": call_id, "type": "tool_call"}])


def _ask(tool: _Tool, args: dict[str, Any], missing: list[_Prop], *, again: bool = False) -> AIMessage:
    labels = [p.label for p in missing]
    needed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    lead = "I still need" if again else f"To run {tool.name} I need"
    content = f"{PREFIX}{lead} {needed}. Please provide {'it' if len(labels) == 1 else 'them'}."
    pending = {"tool": tool.name, "args": args, "missing": [p.name for p in missing]}
    return AIMessage(content=content, additional_kwargs={PENDING_KEY: pending})


def _chat(text: str, tools: list[_Tool]) -> str:
    greeting = ""
    if re.search(r"\b(thanks|thank you|cheers)\b|谢谢", text, re.I):
        greeting = "You're welcome! "
    elif re.search(r"\b(bye|goodbye)\b|再见", text, re.I):
        greeting = "Goodbye! "
    elif re.match(r"\W*(hi|hello|hey|good (morning|afternoon|evening))\b|你好|您好", text, re.I):
        greeting = "Hello! "
    if greeting in ("You're welcome! ", "Goodbye! "):
        return PREFIX + greeting.strip()
    if not tools:
        return (
            f"{PREFIX}{greeting}No language model is configured (set LOOPDESK_LLM_PROVIDER and LOOPDESK_LLM_MODEL) "
            "and no tools are available, so I cannot answer that."
        )
    listed = "; ".join(tool.summary for tool in tools[:8]) + (f"; and {len(tools) - 8} more" if len(tools) > 8 else "")
    return (
        f"{PREFIX}{greeting}No language model is configured, so I only act on requests that match one of my tools: "
        f"{listed}. Tell me what you need with the details (ids, emails, amounts)."
    )


def _clip(text: str, size: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


def _label(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("title", "name", "label", "summary", "id"):
            if key in value and not isinstance(value[key], dict | list):
                return str(value[key])
        scalars = [f"{k}: {_scalar(v)}" for k, v in value.items() if not isinstance(v, dict | list)]
        return ", ".join(scalars[:3]) or f"{len(value)} fields"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, list):
        if len(value) <= 3 and all(not isinstance(v, dict | list) for v in value):
            return ", ".join(map(_scalar, value)) or "none"
        return f"{len(value)} items"
    if isinstance(value, dict):
        return f"{len(value)} fields"
    return _clip(str(value), 120)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        parts = [f"{str(k).replace('_', ' ')}: {_scalar(v)}" for k, v in list(value.items())[:8]]
        more = f" (and {len(value) - 8} more fields)" if len(value) > 8 else ""
        return "; ".join(parts) + more if parts else "nothing"
    if isinstance(value, list):
        if not value:
            return "no results"
        shown = "; ".join(_label(v) for v in value[:3])
        return f"{len(value)} result{'s' if len(value) != 1 else ''}: {shown}" + ("; …" if len(value) > 3 else "")
    return _scalar(value)


def _answer_results(messages: list[BaseMessage], results: list[ToolMessage]) -> str:
    names = {call["id"]: call["name"] for m in messages if isinstance(m, AIMessage) for call in m.tool_calls}
    lines = []
    for result in results:
        name = result.name or names.get(result.tool_call_id) or "the tool"
        text = result.text.strip()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        error = isinstance(value, dict) and set(value) <= {"error", "detail", "message", "status"} and "error" in value
        if result.status == "error" or error or re.match(r"error\b", text, re.IGNORECASE):
            detail = str(value.get("error") if isinstance(value, dict) else text)
            detail = re.sub(r"^error\b\W*", "", detail, flags=re.IGNORECASE) or "no details"
            lines.append(f"{name} failed: {_clip(detail)}" + ("" if detail.endswith((".", "…")) else "."))
        elif value in ("", None, [], {}):
            lines.append(f"{name} returned nothing.")
        else:
            described = _describe(value)
            lines.append(f"{name} returned: {described}" + ("" if described.endswith((".", "…")) else "."))
    return PREFIX + " ".join(lines)


class OfflineChatModel(LocalChatModel):
    """No network, no model weights: tool matching and schema-driven argument extraction, honestly labelled."""

    @property
    def _llm_type(self) -> str:
        return "offline"

    def _reply(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> AIMessage:
        results: list[ToolMessage] = []
        for message in reversed(messages):
            if not isinstance(message, ToolMessage):
                break
            results.insert(0, message)
        if results:
            return AIMessage(content=_answer_results(messages, results))
        if not messages or not isinstance(messages[-1], HumanMessage):
            return AIMessage(content=f"{PREFIX}Send me a message and I will see which tool can handle it.")
        text = messages[-1].text.strip()
        profiles = [_profile(tool) for tool in tools]
        if not text:
            return AIMessage(content=_chat(text, profiles))
        pending = _pending(messages)
        if pending is not None:
            reply = self._continue(text, pending, profiles)
            if reply is not None:
                return reply
        if _SMALL_TALK.match(text):
            return AIMessage(content=_chat(text, profiles))
        choice = _choose(text, profiles, self.tool_choice)
        if choice is None:
            return AIMessage(content=_chat(text, profiles))
        if choice.missing:
            return _ask(choice.tool, choice.args, choice.missing)
        return _call(choice.tool, choice.args)

    def _continue(self, text: str, pending: dict[str, Any], tools: list[_Tool]) -> AIMessage | None:
        """The user answers our question: fill what was missing, unless they asked for something else."""
        tool = next((t for t in tools if t.name == pending.get("tool")), None)
        if tool is None:
            return None
        if _DISMISS.match(text):
            return AIMessage(content=f"{PREFIX}OK, I won't run {tool.name}.")
        known = dict(pending.get("args") or {})
        wanted = [p.name for p in tool.required if p.name not in known]
        partial = _Tool(tool.name, tool.description, [p for p in tool.props if p.name not in known], tool.weights)
        partial.triggers = tool.triggers
        found, _ = _extract(text, partial, answering=wanted)
        # An answer that gives everything asked for is an answer, even if its words suit another tool too.
        if not set(wanted) <= set(found):
            fresh = _choose(text, tools, self.tool_choice)
            if fresh is not None and fresh.tool.name != tool.name:
                return None
        if not found:
            return _ask(tool, known, [p for p in tool.required if p.name in wanted], again=True)
        args = {**known, **found}
        missing = [p for p in tool.required if p.name not in args]
        return _ask(tool, args, missing, again=True) if missing else _call(tool, args)


def _pending(messages: list[BaseMessage]) -> dict[str, Any] | None:
    if len(messages) < 2 or not isinstance(messages[-2], AIMessage):
        return None
    pending = messages[-2].additional_kwargs.get(PENDING_KEY)
    return pending if isinstance(pending, dict) else None

"""How the offline model reads text: the concept vocabulary (English and Chinese), stemming, tokens, and the
shapes of values (emails, URLs, ids, money, quotes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    "freeze": ("freeze", "frozen", "block", "冻结", "锁卡", "挂失"),
    "unfreeze": ("unfreeze", "unfrozen", "unblock", "解冻", "解锁", "解除冻结"),
    "card": ("card", "cards", "卡", "银行卡", "信用卡", "卡片"),
    "dispute": ("dispute", "disputed", "争议", "申诉", "拒付"),
    "coupon": ("coupon", "voucher", "promo", "优惠券", "优惠码", "折扣码"),
    "invoice": ("invoice", "invoices", "bill", "receipt", "发票", "账单"),
    "seat": ("seat", "seats", "席位", "座位"),
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

_CJK = "\u3400-\u4dbf\u4e00-\u9fff"


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
_TOKEN = re.compile(rf"(?P<word>[A-Za-z]+(?:['’][A-Za-z]+)?)|(?P<num>\d+(?:[.,]\d+)*)|(?P<cjk>[{_CJK}]+)")


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


# ---------------------------------------------------------------------------------------------- shapes
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s<>\"'，。）)]+", re.IGNORECASE)
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_DATETIME = re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\b(\d{4})[-/](\d{1,2})[-/](\d{1,2})\b|(\d{4})年(\d{1,2})月(\d{1,2})[日号]")
# An example a description shows ("Account id, e.g. ACME."): the identifier after the marker.
_EXAMPLE = re.compile(
    r"(?:\be\.g\.|\bfor example\b|\blook like\b|\bsuch as\b|例如)\s*[:,：]?\s*[\"'`]?([A-Za-z0-9][\w./:-]*[A-Za-z0-9])"
)
# ASCII boundaries: "订单A1005到哪了" holds A1005 (Chinese letters are \w too). One letter needs 3+ digits (A1001).
_CODE_ID = re.compile(
    r"(?<![A-Za-z0-9_-])(?:[A-Za-z]{2,6}(?:[-_]\d+|\d{2,})|[A-Za-z][-_]?\d{3,})(?:[-_][A-Za-z0-9]+)*(?![A-Za-z0-9_-])"
)
_CURRENCY_WORD = r"usd|eur|gbp|jpy|cny|rmb|dollars?|bucks|euros?|pounds?|yen|yuan|美元|美金|欧元|英镑|日元|人民币|元|块"
_MONEY = re.compile(
    rf"(?P<pre>[$€£¥]|us\$|(?:usd|eur|gbp|jpy|cny|rmb)\s?)(?P<a>\d[\d,]*(?:\.\d+)?)"
    rf"|(?P<b>\d[\d,]*(?:\.\d+)?)\s?(?P<post>(?:{_CURRENCY_WORD})(?![A-Za-z]))",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"([^\"\n]+)\"|“([^”\n]+)”|‘([^’\n]+)’|「([^」\n]+)」|(?<![A-Za-z])'([^'\n]+)'(?![A-Za-z])")


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _blank(text: str, spans: list[tuple[int, int]], fill: str = " ") -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = fill * (end - start)
    return "".join(chars)


def _search_pattern(pattern: str, text: str) -> re.Match[str] | None:
    body = re.sub(r"^\^|\$$", "", pattern.replace(r"\A", "").replace(r"\Z", ""))
    try:
        return re.search(rf"(?<![\w-])(?:{body})(?![\w-])", text, re.IGNORECASE)
    except re.error:
        return None

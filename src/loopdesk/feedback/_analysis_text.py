"""What a report's words say for log analysis: search keywords (English words, Chinese character bigrams, stop
words dropped) and the modules it names, either by a module's own name as the log store knows it or through the
operator's keyword → module map. Pure functions; the tokenisers are triage's (issue_type and dedup text)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from loopdesk.triage.dedup.text import clean
from loopdesk.triage.issue_type.text import CJK_CHARS, WORD_TOKEN_PATTERN, space_cjk

MAX_KEYWORDS = 20  # what `related_logs` is asked with (the log API's own cap)
MAX_MODULES = 20

_WORD = re.compile(WORD_TOKEN_PATTERN)
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_TRACE_ID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
_HEX_ID = re.compile(r"[0-9a-fA-F]{16,}")  # trace and span ids: searched as a trace, not as words

# Words of any report that pick out no log line: grammar, and how people describe a problem in general.
STOP_WORDS = frozenset(
    """a about above after again all also always am an and any anymore are as at be been before being but by can
    cannot could did didn do does doesn doing don done during each even ever every for from get gets getting got had
    has have having he her here him his how however if in into is isn it its itself just keep keeps let like may
    me might more most much must my never no not now of off often on once only or other our out over please really
    same see seems she should since so some still such than that the their them then there these they this those
    though through to too try tried trying under until up us very via was wasn we were what when where which while
    who why will with without won would yes yet you your
    app application bug bugs issue issues problem problems thing things something someone anything everything
    work works working worked broken wrong error errors fail fails failed failing happen happens happened
    suggest suggestion suggestions idea feature would nice better add please thanks hello hi today yesterday
    morning evening time times minute minutes hour hours day days week user users customer customers""".split()
)
# Chinese function words and report phrasing: they split a run of characters before bigrams are taken.
_ZH_STOP_WORDS = sorted(
    """的 了 是 在 我 你 他 她 它 们 这 那 就 都 也 和 与 及 或 很 吗 呢 吧 啊 着 把 被 让 给 又 还 再
    有 没 不 会 能 要 想 一 个 一直 总是 每次 时候 无法 不能 不了 我们 你们 他们 这个 那个 什么 怎么
    为什么 可以 应该 已经 然后 但是 因为 所以 如果 现在 今天 昨天 问题 出现 发现 希望 建议 请 谢谢 一下""".split(),
    key=len,
    reverse=True,
)
_ZH_SPLIT = re.compile("|".join(map(re.escape, _ZH_STOP_WORDS)))
# Module names too general to be named by a report that happens to use the word.
_GENERIC_MODULE_WORDS = frozenset(
    "api app web core common util utils lib libs main server service services client internal worker handler "
    "default system base http db".split()
)


def _key(word: str) -> str:
    """How a word is compared with a module name: case-folded, a plain English plural made singular."""
    folded = word.casefold()
    if len(folded) > 3 and folded.endswith("s") and not folded.endswith(("ss", "us", "is")):
        return folded[:-1]
    return folded


def report_text(title: str, description: str) -> str:
    return clean(f"{title}\n{description}")


def keywords(text: str, *, limit: int = MAX_KEYWORDS) -> list[str]:
    """Search words in order of appearance: English words (2+ characters, not only digits, not stop words),
    then the character bigrams of Chinese runs between function words."""
    found: list[str] = []
    for token in _WORD.findall(space_cjk(text)):
        if len(token) < 2 or token.isdigit() or _HEX_ID.fullmatch(token) or token.casefold() in STOP_WORDS:
            continue  # single CJK characters are taken below, as bigrams of their run
        found.append(token.casefold())
    for run in _CJK_RUN.findall(text):
        for piece in _ZH_SPLIT.split(run):
            found += [piece[i : i + 2] for i in range(len(piece) - 1)]
    return list(dict.fromkeys(word for word in found if word))[:limit]


def trace_ids(text: str) -> list[str]:
    """32-hex-digit trace ids a report quotes (a copied error page or log line)."""
    return list(dict.fromkeys(match.lower() for match in _TRACE_ID.findall(text)))


def _mentions(folded_text: str, phrase: str) -> bool:
    """Whether the text holds `phrase` as a whole word (Chinese: anywhere, there are no spaces to bound it)."""
    needle = phrase.casefold()
    if _CJK_RUN.search(needle):
        return needle in folded_text
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded_text) is not None


def mapped_modules(text: str, keyword_map: Mapping[str, Sequence[str]]) -> tuple[list[str], list[str]]:
    """(modules, the keywords that named them) from the operator's keyword → module map."""
    folded = text.casefold()
    modules: list[str] = []
    hits: list[str] = []
    for word, names in keyword_map.items():
        if _mentions(folded, word):
            hits.append(word)
            modules += names
    return list(dict.fromkeys(modules)), hits


def named_modules(text: str, known: Iterable[str]) -> list[str]:
    """The log store's modules (or services) the report names: the whole dotted name anywhere in the text, or one
    of its segments as a word of the report (`payment` names `payments`; `checkout` names `shop.checkout`). A
    segment names the name up to it, so `payments.api` is found as `payments`, which covers its children."""
    folded = text.casefold()
    words = {_key(token) for token in _WORD.findall(space_cjk(text)) if token.casefold() not in STOP_WORDS}
    found: list[str] = []
    for name in sorted(set(known)):
        if _specific(name) and _mentions(folded, name):
            found.append(name)
            continue
        parts = name.split(".")
        for depth, part in enumerate(parts, start=1):
            if len(part) >= 3 and _specific(part) and _key(part) in words:
                found.append(".".join(parts[:depth]))
                break
    return collapse(found)


def _specific(name: str) -> bool:
    folded = name.casefold()
    return "." in folded or (folded not in STOP_WORDS and folded not in _GENERIC_MODULE_WORDS)


def collapse(modules: Iterable[str]) -> list[str]:
    """Distinct names in order, without those whose dotted parent is also there (the parent covers them)."""
    names = list(dict.fromkeys(m for m in modules if m))
    present = set(names)
    return [n for n in names if not any(n.startswith(other + ".") for other in present if other != n)][:MAX_MODULES]

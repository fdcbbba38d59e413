"""Generic variable masking: one log message becomes tokens whose obvious variables read `<*>`.

The marks follow the Loghub-2.0 corrected templates (Khan et al., ICSE 2022): punctuation around a
variable stays (`(uid=<*>)`, `<*>:<*>` for host:port), an identifier holding a number is one variable
(`blk_-42`, `rdd_2_1`, `mesos-slave-07`), absolute paths, URL bodies and file names are one variable.
Nothing here knows any particular system: words without digits are left to the miner to judge.
"""

from __future__ import annotations

import re

from loopdesk.triage.logs.tokens import VALUE_WORDS, WILDCARD, is_wild_run

MAX_CHARS = 4096  # longer messages are cut: real templates fit well inside, junk does not need more
MAX_TOKENS = 256
_MAX_CACHED_WORD = 64  # longer words and messages are masked every time, so the caches' sizes stay bounded
_MAX_CACHED_MESSAGE = 256

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# Spans of several words, masked before the message is split. `Fri Jun 17 07:07:00 2005` is annotated
# `<*>:<*>:<*>` (the words before the hour and a trailing year join it); a size is one variable with its
# unit (`5.2 KB`), while counts of plain bytes keep their word. Cheap tests go first: most lines have neither.
_TIME_HINT = re.compile(r"\d:\d\d:\d\d")
_DATETIME = re.compile(
    rf"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?(?:{_MONTHS})\s+\d{{1,2}},?\s+\d{{1,2}}:\d\d:\d\d(?:\s+\d{{4}}\b)?"
)
_SIZE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTP]i?)?B\b")
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)[^\s\]\[)(}{'\"<>,;]+")
_WIN_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\",;)\]]*")
# A dotted host name before a port is a variable like an IP address (`proxy.example.org:8080`).
_HOST_PORT = re.compile(r"(?<![\w.\-/])[A-Za-z0-9][\w\-]*(?:\.[\w\-]+){2,}(?=:\d+\b)")
# A program or data file name is a variable (`chrome.exe`, `update.log`); source files (`mice.c`) are not.
_EXTENSIONS = "exe|dll|jar|log|txt|tmp|dat|bin|out|err|bak|gz|zip"
_FILE_EXTENSION = re.compile(rf"\.(?:{_EXTENSIONS})\b")
_FILE_NAME = re.compile(rf"(?<![\w.\-/])[\w\-]+(?:\.[\w\-]+)*\.(?:{_EXTENSIONS})\b")
# Pieces between these characters are tested for absolute paths (the corrected templates' PS rule).
_PATH_SPLIT = re.compile(r"([,!;:=|\"'\[\](){}<>])")
_ABS_PATH = re.compile(r"^(?:/[^/]+)+/?$")
# An identifier: word characters joined by `.` or `-`, with a sign when it stands alone (`-1`).
_COMPOUND = re.compile(r"(?<![A-Za-z0-9_.\-])-?[A-Za-z0-9_]+(?:[.\-]+[A-Za-z0-9_]+)*")
_SEGMENT_SPLIT = re.compile(r"[._\-]+")
# A segment led by a digit is a number, a number with a short unit (`16K`, `10000ms`, `80x25`) or hex.
_DIGIT_LED = re.compile(r"^\d+(?:[A-Za-z]{1,3}\d*|[0-9a-fA-F]*)$")
_HEX = re.compile(r"^(?:0[xX])?[0-9a-fA-F]+$")
_HAS_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)*$")  # integers, decimals, IP addresses: the commonest pieces
# `1354)`, `(42,`, `-1`, `10.0.0.1:8080`, `/10.0.0.1:50010` (an absolute path is a variable too)
_QUICK_NUMBER = re.compile(r"([(\[]?)(?:-?\d+(?:\.\d+)*|/\d+(?:\.\d+)+(?=:))(:\d+)?([)\]},.;:]*)$")


def _is_numeric_segment(segment: str) -> bool:
    if not segment:
        return False
    if segment[:2] in ("0x", "0X"):
        return bool(_HEX.match(segment))
    first = segment[0]
    if first.isdigit():
        return bool(_DIGIT_LED.match(segment))
    if first in "vV":
        return segment[1:].isdigit()  # a version: v2
    # a letter-led hex word needs length and a digit to tell `ffff3000` from `e820` or `added`
    return len(segment) >= 6 and bool(_HEX.match(segment)) and any(c.isdigit() for c in segment)


def _mask_compound(match: re.Match[str]) -> str:
    text = match.group(0)
    core = text.lstrip("-")
    if core.isdigit() or any(_is_numeric_segment(s) for s in _SEGMENT_SPLIT.split(core)):
        return WILDCARD
    return text


def _mask_piece(piece: str) -> str:
    if _ABS_PATH.match(piece) or piece.lower() in VALUE_WORDS:
        return WILDCARD
    if not _HAS_DIGIT.search(piece):
        return piece
    if _NUMBER.match(piece):
        return WILDCARD
    return _COMPOUND.sub(_mask_compound, piece)


def mask_word(word: str) -> str:
    """The word with its variable parts written `<*>`; punctuation around them is kept."""
    if word.isalpha():
        return WILDCARD if word.lower() in VALUE_WORDS else word
    if word.isdigit() or word == WILDCARD:
        return WILDCARD
    quick = _QUICK_NUMBER.match(word)  # the commonest shapes, answered as the full rules would
    if quick is not None:
        return quick.group(1) + ("<*>:<*>" if quick.group(2) else WILDCARD) + quick.group(3)
    return _mask_word(word)


def _mask_word(word: str) -> str:
    if "/" in word or "\\" in word:
        word = _URL.sub(lambda m: m.group(1) + WILDCARD, word)
        word = _WIN_PATH.sub(WILDCARD, word)
    if "." in word:
        if ":" in word:
            word = _HOST_PORT.sub(WILDCARD, word)
        if _FILE_EXTENSION.search(word):
            word = _FILE_NAME.sub(WILDCARD, word)
    parts = _PATH_SPLIT.split(word)
    masked = "".join(p if i % 2 else _mask_piece(p) for i, p in enumerate(parts))
    while "<*><*>" in masked:
        masked = masked.replace("<*><*>", WILDCARD)
    while "<*>.<*>" in masked:
        masked = masked.replace("<*>.<*>", WILDCARD)
    return masked


def _collapse_runs(tokens: list[str]) -> list[str]:
    # a list of variables of any length is one token, so `delete <*> <*> <*>` meets `delete <*>`
    out: list[str] = []
    for token in tokens:
        if token == WILDCARD and out and is_wild_run(out[-1]):
            out[-1] = out[-1] + " " + WILDCARD
        else:
            out.append(token)
    return out


class Masker:
    """Masks messages word by word through bounded caches: of words (they repeat far more often than
    messages) and of whole short messages (many lines repeat exactly once timestamps are stripped)."""

    def __init__(self, cache_size: int = 50_000, message_cache_size: int = 10_000) -> None:
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size
        self._messages: dict[str, list[str]] = {}
        self._messages_size = message_cache_size

    def _mask(self, word: str) -> str:
        masked = mask_word(word)
        if len(word) <= _MAX_CACHED_WORD:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[word] = masked
        return masked

    def tokens(self, message: str) -> list[str]:
        """The masked words of `message`; a run of variables is one token (`<*> <*> <*>`).
        The list may be shared with earlier calls for the same message: do not change it."""
        known = self._messages.get(message)
        if known is not None:
            return known
        key = message
        if len(message) > MAX_CHARS:
            message = message[:MAX_CHARS]
        if not message.isprintable():
            message = _CONTROL.sub(" ", message)
        if "B" in message:
            message = _SIZE.sub(WILDCARD, message)
        if ":" in message and _TIME_HINT.search(message):
            message = _DATETIME.sub("<*>:<*>:<*>", message)
        words = message.split()
        if len(words) > MAX_TOKENS:
            words = words[: MAX_TOKENS - 1] + [WILDCARD]
        out = list(map(self._cache.get, words))
        if None in out:
            out = [token if token is not None else self._mask(word) for token, word in zip(out, words, strict=True)]
        if "<*>\n<*>" in "\n".join(out):
            out = _collapse_runs(out)
        if len(key) <= _MAX_CACHED_MESSAGE:
            if len(self._messages) >= self._messages_size:
                self._messages.clear()
            self._messages[key] = out
        return out

"""Operations on template tokens: generalise two tokens, test cover, print a template in canonical form."""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARD = "<*>"
# Words the corrected templates always mark as variables (their BL and US rules).
VALUE_WORDS = frozenset({"true", "false", "null", "root", "admin"})

_PIECES = re.compile(r"([\s,!;:=|\"'\[\](){}.\-+@#$%&/<>*])")
_CLOSING = frozenset(")]}>'\",.;:!")
# The corrected templates' own clean-up rules (DS, BL/US, DG, WV, DV, CV), applied to every printed template.
_KHAN_SPLIT = re.compile(r"(\s|[,!;:=|\"'\[\](){}.\-+@#$%&])")
_WORD_VARIABLE = re.compile(r"^[^\s/]*<\*>[^\s/]*$")


def is_wild_run(token: str) -> bool:
    """`<*>`, or several joined by spaces (a collapsed list of variables)."""
    return token.startswith(WILDCARD) and not token.replace(WILDCARD, "").strip()


def _pieces(token: str) -> list[str]:
    out: list[str] = []
    for i, chunk in enumerate(token.split(WILDCARD)):  # `<*>` stays one piece
        if i:
            out.append(WILDCARD)
        out.extend(p for p in _PIECES.split(chunk) if p)
    return out


def _is_delimiter(piece: str) -> bool:
    return len(piece) == 1 and bool(_PIECES.match(piece))


def generalize(template: str, token: str) -> str:
    """The least general token covering both: their common head up to a delimiter, `<*>`, closing marks
    they share (`rhost=a.b` and `rhost=<*>` give `rhost=<*>`, `'x'` and `'y'` give `'<*>'`)."""
    if template == token:
        return template
    if template == WILDCARD or (is_wild_run(template) and is_wild_run(token)):
        return WILDCARD
    a, b = _pieces(template), _pieces(token)
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head] == b[head]:
        head += 1
    while head and not _is_delimiter(a[head - 1]):
        head -= 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail] and a[-1 - tail] in _CLOSING:
        tail += 1
    return "".join(a[:head]) + WILDCARD + "".join(a[len(a) - tail :])


@lru_cache(maxsize=65_536)
def subsumes(template: str, token: str) -> bool:
    """Whether the template token already covers `token` (learning it would change nothing)."""
    return WILDCARD in template and generalize(template, token) == template


def differing_words(values: tuple[str, ...]) -> list[str]:
    """What is left of each value once the pieces all of them share at the head and the tail are cut off."""
    split = [_pieces(v) for v in values]
    shortest = min(len(p) for p in split)
    head = 0
    while head < shortest and all(p[head] == split[0][head] for p in split):
        head += 1
    tail = 0
    while tail < shortest - head and all(p[-1 - tail] == split[0][-1 - tail] for p in split):
        tail += 1
    return ["".join(p[head : len(p) - tail]) for p in split]


@lru_cache(maxsize=16_384)
def canonical(template: str) -> str:
    """`template` in the canonical form of Loghub-2.0's corrected templates."""
    template = " ".join(template.split())
    parts = _KHAN_SPLIT.split(template)
    for i in range(0, len(parts), 2):
        part = parts[i]
        if not part or part == WILDCARD:
            continue
        if part.isdigit() or part.lower() in VALUE_WORDS:
            parts[i] = WILDCARD
        elif WILDCARD in part and _WORD_VARIABLE.match(part) and part != "<*>/<*>":
            parts[i] = WILDCARD
    template = "".join(parts)
    while "<*>.<*>" in template:
        template = template.replace("<*>.<*>", WILDCARD)
    while "<*><*>" in template:
        template = template.replace("<*><*>", WILDCARD)
    return template

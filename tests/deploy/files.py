"""Readers for deploy/'s files as the tools that consume them read them: a Dockerfile's instructions, a
.dockerignore's patterns, an env file's assignments (commented ones too), compose's ${VAR} interpolation and
nginx's configuration blocks. Small on purpose: each does what tests/deploy needs and refuses what it cannot read."""

from __future__ import annotations

import io
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


# ─── Dockerfile ──────────────────────────────────────────────────────────────────────────────────────────────
@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """JSON (exec) form, as Docker reads it; shell form is refused where exec form is expected."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(item, str) for item in value), self.args
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, _, value = token.partition("=")
                values[key] = value
        return values


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Continuation lines joined, comments and blank lines dropped (a comment inside a continued instruction too)."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def dockerfile_stages(text: str) -> list[Stage]:
    """Build stages with their base image resolved from the ARG defaults declared before the first FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in dockerfile_instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args[m.group(1) or m.group(2)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert instruction.keyword == "ARG", f"{instruction.keyword} before the first FROM"
            key, _, value = instruction.args.partition("=")
            global_args[key] = value
        else:
            stages[-1].instructions.append(instruction)
    return stages


def copy_sources(instruction: Instruction) -> tuple[list[str], str, dict[str, str]]:
    """A COPY's sources, destination and flags (--from, --chmod, ...)."""
    words = shlex.split(instruction.args)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return words[:-1], words[-1], flags


# ─── .dockerignore ───────────────────────────────────────────────────────────────────────────────────────────
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_excludes(patterns_text: str, path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parent folders decides; `!` re-includes."""
    rules = []
    for raw in patterns_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        rules.append((negated, _pattern_regex(line.lstrip("!").strip("/"))))
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


# ─── env files and interpolation ─────────────────────────────────────────────────────────────────────────────
_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass
class Assignment:
    name: str
    value: str
    active: bool
    line: int


def env_assignments(text: str) -> list[Assignment]:
    """Every `NAME=value` line, uncommented or commented out (`# NAME=value`), each value read as python-dotenv
    reads it."""
    from dotenv import dotenv_values

    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        match = _ASSIGNMENT.match(raw.strip())
        if match:
            commented, name, rest = match.groups()
            value = dotenv_values(stream=io.StringIO(f"{name}={rest}\n")).get(name) or ""
            found.append(Assignment(name, value, active=commented is None, line=number))
    return found


_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}; an unset required variable raises with its message."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        value = variables.get(name)
        empty = value is None or (operator is not None and operator.startswith(":") and value == "")
        if operator and operator.endswith("?") and empty:
            raise KeyError(argument or name)
        if operator and operator.endswith("-") and empty:
            return argument
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def interpolated_names(text: str) -> set[str]:
    return {match.group(1) for match in _INTERPOLATION.finditer(text)}


# ─── nginx configuration ─────────────────────────────────────────────────────────────────────────────────────
@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = None

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def child(self, name: str) -> Directive | None:
        found = self.children(name)
        return found[-1] if found else None


_TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)'|([{};])|([^\s{};"'#]+)""")


def nginx_parse(text: str) -> list[Directive]:
    """nginx's grammar: directives end with `;`, blocks are `{ ... }`, `#` starts a comment outside quotes."""
    tokens: list[tuple[str, str]] = []  # (kind, value): kind is "word" or the punctuation itself
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read nginx config at {text[position : position + 40]!r}"
        position = match.end()
        double, single, punct, word = match.groups()
        if punct:
            tokens.append((punct, punct))
        elif double is not None or single is not None:
            tokens.append(("word", double if double is not None else single))
        elif word is not None:
            tokens.append(("word", word))

    def block(index: int, closing: bool) -> tuple[list[Directive], int]:
        directives: list[Directive] = []
        words: list[str] = []
        while index < len(tokens):
            kind, value = tokens[index]
            index += 1
            if kind == "word":
                words.append(value)
            elif kind == ";":
                directives.append(Directive(words[0], words[1:]))
                words = []
            elif kind == "{":
                inner, index = block(index, closing=True)
                directives.append(Directive(words[0], words[1:], inner))
                words = []
            else:  # "}"
                assert closing and not words, "unbalanced braces in the nginx config"
                return directives, index
        assert not closing and not words, "the nginx config ends inside a block or a directive"
        return directives, index

    return block(0, closing=False)[0]


def nginx_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, f"not an nginx time: {value}"
    return int(match.group(1)) * units[match.group(2) or "s"]


def nginx_bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, f"not an nginx size: {value}"
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]


def nginx_location_for(server: Directive, path: str) -> Directive:
    """The location nginx picks for a path: an exact match; else the longest prefix if it is `^~`; else the first
    regex in file order that matches; else the longest prefix."""
    locations = server.children("location")
    for location in locations:
        if len(location.args) == 2 and location.args[0] == "=" and location.args[1] == path:
            return location
    prefixes = [loc for loc in locations if len(loc.args) == 1 or loc.args[0] == "^~"]
    longest = max(
        (loc for loc in prefixes if path.startswith(loc.args[-1])), key=lambda loc: len(loc.args[-1]), default=None
    )
    if longest is not None and longest.args[0] == "^~":
        return longest
    for location in locations:
        if location.args[0] in ("~", "~*"):
            flags = re.IGNORECASE if location.args[0] == "~*" else 0
            if re.search(location.args[1], path, flags):
                return location
    assert longest is not None, f"no location serves {path}"
    return longest


def nginx_headers(server: Directive, location: Directive) -> dict[str, str]:
    """The proxy_set_header lines in force in a location: its own if it has any (nginx then inherits none), else the
    server's."""
    lines = location.children("proxy_set_header") or server.children("proxy_set_header")
    return {d.args[0].lower(): d.args[1] for d in lines}


def nginx_setting(server: Directive, location: Directive, name: str) -> list[str] | None:
    """A directive's arguments as they apply in a location: its own, else inherited from the server block."""
    own = location.child(name)
    if own is not None:
        return own.args
    inherited = server.child(name)
    return inherited.args if inherited is not None else None

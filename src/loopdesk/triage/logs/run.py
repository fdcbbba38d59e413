"""The `logs templates` command without its CLI framework: shell pipelines start it once per batch, so it
imports only the miner (see loopdesk/entry.py)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

from loopdesk.triage.logs.spool import final_templates, read_lines
from loopdesk.triage.logs.templates import TemplateMiner

_NOT_SET = object()
STREAM_HELP = (
    "Print each line's template as soon as the line is read (the template known so far), flushing every line. "
    "By default the template each line's cluster ends with is printed once input ends."
)
STATE_HELP = "Load the miner from FILE (when it exists) and save it back there at the end."


class StateError(Exception):
    """The state file cannot be read."""


def load_miner(state: Path | None) -> TemplateMiner:
    if state is None or not state.exists():
        return TemplateMiner()
    try:
        return TemplateMiner.load(state)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise StateError(f"cannot load template state from {state}: {exc}") from None


def _write(templates: Iterable[str], *, flush_each: bool) -> None:
    out = sys.stdout.buffer
    for template in templates:
        out.write(template.encode("utf-8", "replace") + b"\n")
        if flush_each:
            out.flush()
    out.flush()


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, so a stopped service keeps its templates


def run_templates(state: Path | None, stream: bool) -> int:
    """Read log message contents on stdin, print one template per line; the exit code."""
    try:
        miner = load_miner(state)
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = read_lines(sys.stdin.buffer)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        previous = _NOT_SET
    try:
        if stream:
            _write((miner.add(line).template for line in lines), flush_each=True)
        else:
            _write(final_templates(lines, miner), flush_each=False)
    except BrokenPipeError:
        # the reader went away (`| head`): what was learnt is still saved below
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except KeyboardInterrupt:
        return 130
    finally:
        if previous is not _NOT_SET:
            signal.signal(signal.SIGTERM, previous)
        if state is not None:
            miner.save(state)
    return 0


def main(argv: list[str]) -> int:
    """`loopdesk logs templates [--state FILE] [--stream]` parsed without typer (same options, same help)."""
    parser = argparse.ArgumentParser(
        prog="loopdesk logs templates",
        description="Read log message contents on stdin, one per line; print one template per input line on stdout.",
    )
    parser.add_argument("--state", type=Path, default=None, metavar="FILE", help=STATE_HELP)
    parser.add_argument("--stream", action="store_true", help=STREAM_HELP)
    options = parser.parse_args(argv)
    return run_templates(options.state, options.stream)

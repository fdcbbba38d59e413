"""`loopdesk intents train | classify`: train the offline intent model from JSON lines, classify JSON lines on stdin.

Results go to stdout, one JSON object per input line; logs and progress go to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopdesk.core.cli_support import settings_or_exit
from loopdesk.core.logging import configure_logging
from loopdesk.triage.dedup.embeddings import EmbedderUnavailable
from loopdesk.triage.issue_type.cli import read_line_batches

if TYPE_CHECKING:
    from loopdesk.support.intents.model import IntentModel

app = typer.Typer(
    help="Intents: train the offline intent classifier, classify customer messages (JSON lines).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, highlight=False)
CLASSIFY_BATCH = 32


def _model_dir(given: Path | None) -> Path:
    settings = settings_or_exit(console)
    configure_logging(settings.logging, stream=sys.stderr)  # stdout carries the results
    return given if given is not None else settings.database.data_dir / "intents" / "default"


def read_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) per non-blank line of `path`; ValueError naming the first bad line."""
    examples = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path} line {number}: invalid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise ValueError(f'{path} line {number}: expected an object with "text" and "intent"')
            text, intent = record.get("text"), record.get("intent")
            for field, value in (("text", text), ("intent", intent)):
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f'{path} line {number}: "{field}" must be a non-empty string')
            examples.append((text, intent))
    if not examples:
        raise ValueError(f"{path} holds no examples")
    return examples


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help='JSON lines {"text", "intent"}; intent "oos" = out of scope.')],
    out: Annotated[
        Path | None, typer.Option("--out", help="Model directory (default: <data dir>/intents/default).")
    ] = None,
) -> None:
    """Train an intent model and save it; prints the examples per intent and the held-out accuracy."""
    from loopdesk.support.intents.model import IntentModel

    target = _model_dir(out)
    try:
        examples = read_examples(data)
    except OSError as exc:
        console.print(f"[bold red]cannot read {data}:[/] {exc.strerror or exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        console.print(f"[bold red]bad training data:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    columns = (TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            model = IntentModel.train(examples, progress=report)
        except (ValueError, EmbedderUnavailable) as exc:
            console.print(f"[bold red]cannot train:[/] {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
    model.save(target)
    _print_summary(model, target)


def _print_summary(model: IntentModel, target: Path) -> None:
    info = model.info
    table = Table(title=f"{info['examples']} examples, {len(model.intents)} intents")
    table.add_column("intent")
    table.add_column("examples", justify="right")
    for intent, count in info["per_class"].items():
        table.add_row(intent, str(count))
    console.print(table)
    held = info.get("held_out")
    if held is None:
        console.print("held-out accuracy: not measured (an intent has a single example per fold)")
    else:
        line = f"held-out accuracy: {100 * held['accuracy']:.1f}% of {held['examples']} examples"
        if held.get("oos_recall") is not None:
            in_scope, recall = 100 * held["in_scope_accuracy"], 100 * held["oos_recall"]
            line += f" (in scope {in_scope:.1f}%, out-of-scope recall {recall:.1f}%)"
        console.print(line)
    console.print(f"out-of-scope below confidence {model.oos_threshold:.3f}; saved to {target}")


def _item(line: bytes | None) -> tuple[Any, str | None, str | None]:
    """(id, text, error) of one input line."""
    if line is None:
        return None, None, "line too long"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, None, f"invalid JSON: {str(exc)[:200]}"
    if not isinstance(record, dict):
        return None, None, 'expected an object with "id" and "text"'
    item_id, text = record.get("id"), record.get("text")
    if isinstance(item_id, dict | list):
        return None, None, '"id" must be a string or a number'
    if not isinstance(text, str) or not text.strip():
        return item_id, None, '"text" must be a non-empty string'
    return item_id, text, None


def _classify_safely(model: IntentModel, texts: list[str]) -> list[dict[str, Any]]:
    try:
        return [{"intent": p.intent, "confidence": p.confidence} for p in model.predict(texts)]
    except Exception as exc:  # noqa: BLE001 - one unforeseen text must not take the rest of the stream with it
        if len(texts) > 1:
            return [result for text in texts for result in _classify_safely(model, [text])]
        return [{"error": f"could not classify: {type(exc).__name__}"}]


@app.command()
def classify(
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="Model directory (default: <data dir>/intents/default).")
    ] = None,
) -> None:
    """Read {"id", "text"} JSON lines on stdin; print {"id", "intent", "confidence"} per line ("oos" when out of
    scope), or {"id", "error"} for a line that cannot be read."""
    from loopdesk.support.intents.model import IntentModel

    path = _model_dir(model_dir)
    try:
        model = IntentModel.load(path)
        model.embedder()
    except (OSError, ValueError, EmbedderUnavailable) as exc:
        console.print(f"[bold red]cannot load the intent model:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    out = sys.stdout.buffer
    try:
        for lines in read_line_batches(sys.stdin.buffer, max_batch=CLASSIFY_BATCH):
            items = [_item(line) for line in lines if line is None or line.strip()]
            results = iter(_classify_safely(model, [text for _, text, error in items if error is None]))
            for item_id, _, error in items:
                answer = {"error": error} if error is not None else next(results)
                out.write(orjson.dumps({"id": item_id, **answer}) + b"\n")
            out.flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        sys.stdout = None  # type: ignore[assignment]  # no flush error at interpreter exit


if __name__ == "__main__":
    app()

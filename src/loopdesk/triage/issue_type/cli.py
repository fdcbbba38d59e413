"""`loopdesk triage train | classify`: train an issue-type model from JSONL, classify JSONL on stdin.

Runs standalone as `python -m loopdesk.triage.issue_type.cli` until it is mounted under `loopdesk triage`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from loopdesk.triage.issue_type.model import IssueTypeModel

app = typer.Typer(
    help="Issue types: bug / suggestion / question with severity, category and language (JSON lines).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, highlight=False)
# A longer line is answered with an error instead of being held in memory.
MAX_LINE_BYTES = 8 * 1024 * 1024
_CHUNK = 1 << 16


def read_line_batches(stream: BinaryIO, max_batch: int = 256) -> Iterator[list[bytes | None]]:
    """Lines as they arrive, grouped by what is already readable; None stands for an over-long line.

    `read1` returns what the pipe holds without waiting for more, so an interactive producer gets an answer
    per line while a file is read in large batches.
    """
    read = getattr(stream, "read1", stream.read)
    pending, skipping = bytearray(), False
    while chunk := read(_CHUNK):
        pending += chunk
        batch: list[bytes | None] = []
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            batch.append(None if skipping else bytes(pending[start:end]))
            skipping, start = False, end + 1
        del pending[:start]
        if len(pending) > MAX_LINE_BYTES:
            pending.clear()
            skipping = True
        for i in range(0, len(batch), max_batch):
            yield batch[i : i + max_batch]
    if skipping or pending.strip():
        yield [None if skipping else bytes(pending)]


def _parse(line: bytes | None) -> tuple[Any, dict[str, Any] | None]:
    """(item, None) or (None, error object) for one input line."""
    if line is None:
        return None, {"error": "line_too_long", "detail": f"line longer than {MAX_LINE_BYTES} bytes"}
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError:
        try:  # invalid UTF-8 inside otherwise valid JSON: keep the readable part
            return orjson.loads(line.decode("utf-8", errors="replace")), None
        except orjson.JSONDecodeError as exc:
            return None, {"error": "invalid_json", "detail": str(exc)[:200]}


def _classify_safely(items: list[Any], model: IssueTypeModel) -> list[dict[str, Any]]:
    from loopdesk.triage.issue_type.pipeline import classify_batch

    try:
        return classify_batch(items, model)
    except Exception:  # one unforeseen item must not take the rest of the stream with it
        if len(items) > 1:
            return [result for item in items for result in _classify_safely([item], model)]
        return [{"error": "internal", "detail": "this item could not be classified"}]


@app.command()
def classify(
    model_dir: Annotated[
        Path | None, typer.Option("--model-dir", help="A trained model directory (default: the shipped model).")
    ] = None,
) -> None:
    """Read {"title", "body"} JSON lines on stdin; print one JSON object per line (an "error" object for a bad one).

    Blank lines are skipped; an "id" key is echoed back.
    """
    from loopdesk.triage.issue_type.model import IssueTypeModel
    from loopdesk.triage.issue_type.pipeline import load_default

    try:
        model = IssueTypeModel.load(model_dir) if model_dir else load_default()
    except (OSError, ValueError, KeyError) as exc:
        console.print(f"[bold red]cannot load the model:[/] {exc}")
        raise typer.Exit(2) from None
    out = sys.stdout.buffer
    try:
        for lines in read_line_batches(sys.stdin.buffer):
            parsed = [_parse(line) for line in lines if line is None or line.strip()]
            items = [item for item, error in parsed if error is None]
            results = iter(_classify_safely(items, model))
            for _, error in parsed:
                out.write(orjson.dumps(error if error is not None else next(results)) + b"\n")
            out.flush()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        sys.stdout = None  # type: ignore[assignment]  # no flush error at interpreter exit


def _read_training_file(path: Path, progress: Progress) -> tuple[list[dict[str, Any]], int]:
    task = progress.add_task("read", total=path.stat().st_size)
    records, bad = [], 0
    with path.open("rb") as handle:
        for line in handle:
            progress.advance(task, len(line))
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
    return records, bad


@app.command()
def train(
    input_path: Annotated[Path, typer.Option("--input", help="JSONL: title, body, issue_type, optional repo.")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Where to write the model.")],
    c: Annotated[float, typer.Option("--c", help="SVM regularisation (smaller = smoother).")] = 0.3,
) -> None:
    """Train a model (bug / suggestion / question; feature and enhancement count as suggestion)."""
    from loopdesk.triage.issue_type.model import IssueTypeModel
    from loopdesk.triage.issue_type.training import TrainConfig

    if not input_path.is_file():
        console.print(f"[bold red]no such file:[/] {input_path}")
        raise typer.Exit(2)
    columns = (TextColumn("{task.description:>10}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        records, bad = _read_training_file(input_path, progress)
        task = progress.add_task("train", total=1.0)

        def report(stage: str, fraction: float) -> None:
            progress.update(task, completed=fraction, description=stage)

        try:
            model = IssueTypeModel.train(records, TrainConfig(c=c), progress=report)
        except ValueError as exc:
            console.print(f"[bold red]cannot train:[/] {exc}")
            raise typer.Exit(1) from None
        model.save(model_dir)
    info = model.info
    console.print(
        f"trained on {info['records']} records {info['per_class']}; skipped {bad} bad lines, {info['skipped']}; "
        f"{info['n_features']} features, domains: {', '.join(model.domains) or 'none'}; saved to {model_dir}"
    )


if __name__ == "__main__":
    app()

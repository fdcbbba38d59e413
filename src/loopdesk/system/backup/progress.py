"""What a backup or restore tells its user (a Reporter: quiet, or a console's progress lines), and the error
that stops it."""

from __future__ import annotations

from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text


class BackupError(Exception):
    """A backup or restore refused or failed; the message says what to do."""


class Reporter(Protocol):
    def step(self, description: str, total: int | None = None) -> None:
        """A new phase begins (the previous one is done); `total`: the items `advance` counts."""

    def advance(self, amount: int = 1) -> None: ...

    def note(self, message: str) -> None:
        """A line the operator should read: what the archive does not hold, what to keep with it."""


class QuietReporter:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def step(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        self.notes.append(message)


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        counted = task.fields.get("counted") and task.total is not None
        return Text(f"{int(task.completed)}/{int(task.total or 0)}" if counted else "", style="progress.download")


class RichReporter:
    """Each phase a line with a spinner, and a bar where the work is counted (tables dumped, objects restored)."""

    def __init__(self, console: Console):
        self.console = console
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            _Count(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: Any = None

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish()
        self._progress.stop()

    def _finish(self) -> None:
        if self._task is not None:
            total = self._progress.tasks[-1].total or 1
            self._progress.update(self._task, total=total, completed=total)

    def step(self, description: str, total: int | None = None) -> None:
        self._finish()
        self._task = self._progress.add_task(description, total=total, counted=total is not None)

    def advance(self, amount: int = 1) -> None:
        task = self._progress.tasks[-1]
        if task.total is None or task.completed + amount < task.total:  # the last item shows when the step ends
            self._progress.advance(self._task, amount)

    def note(self, message: str) -> None:
        self._progress.console.print(f"[yellow]note:[/] {message}")

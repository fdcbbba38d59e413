"""Log template mining benchmark: loopdesk's `TemplateMiner` against drain3 on the Loghub-2.0 dev sets.

Every parser gets the same message contents, in order, in the same process; each line's template is the
final template of the cluster it joined (what `loopdesk logs templates` prints). Accuracy comes from the
scorer's own functions (`eval_logparse.py`: GA, FGA, PA, FTA); speed is lines per second of learning
plus the final lookup, best of `--repeat` runs, measured in this process (no start-up cost).

Parsers:
- loopdesk: `TemplateMiner()` defaults, one configuration for every system (its masks are built in);
- drain3: `drain3-improved` defaults (sim_th 0.4, depth 4, no masking);
- drain3+masks: the same with the masking list of drain3's example `drain3.ini` (ID, IP, SEQ, HEX, NUM, CMD),
  each mask printed `<*>`, which is the fair comparison for a miner that masks.

    nice -n 10 .venv/bin/python benchmarks/logparse.py [--data ../shared/data/loghub-dev] [--json out.json]
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer
from drain3 import TemplateMiner as Drain3
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig
from rich.console import Console
from rich.table import Table

from loopdesk.triage.logs import TemplateMiner, mine

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
METRICS = ("GA", "FGA", "PA", "FTA")
# drain3's example drain3.ini, with every mask printed as the scorer's `<*>`.
_B, _E = r"((?<=[^A-Za-z0-9])|^)", r"((?=[^A-Za-z0-9])|$)"
DRAIN3_MASKS = [
    _B + r"(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))" + _E,
    _B + r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})" + _E,
    _B + r"([0-9a-f]{6,} ?){3,}" + _E,
    _B + r"([0-9A-F]{4} ?){4,}" + _E,
    _B + r"(0x[a-f0-9A-F]+)" + _E,
    _B + r"([\-\+]?\d+)" + _E,
    r"(?<=executed cmd )(\".+?\")",
]

Parser = Callable[[list[str]], list[str]]


def loopdesk(contents: list[str]) -> list[str]:
    return mine(contents, TemplateMiner())


def _drain3(masks: list[str]) -> Parser:
    def run(contents: list[str]) -> list[str]:
        config = TemplateMinerConfig()
        config.masking_instructions = [MaskingInstruction(m, "*") for m in masks]
        miner = Drain3(config=config)
        ids = [miner.add_log_message(c)["cluster_id"] for c in contents]
        final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
        return [final[i] for i in ids]

    return run


PARSERS: dict[str, Parser] = {"loopdesk": loopdesk, "drain3": _drain3([]), "drain3+masks": _drain3(DRAIN3_MASKS)}


def _scorer(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_logparse", path)
    if spec is None or spec.loader is None:
        raise typer.BadParameter(f"cannot load the scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(parser: Parser, contents: list[str], repeat: int) -> tuple[list[str], float]:
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        out = parser(contents)
        best = min(best, time.perf_counter() - start)
    return out, best


def main(
    data: Annotated[Path, typer.Option(help="Folder with one Loghub-2.0 sub-folder per system.")] = SHARED
    / "data"
    / "loghub-dev",
    scorer: Annotated[Path, typer.Option(help="The scorer whose metrics are used.")] = SHARED
    / "tools"
    / "eval_logparse.py",
    repeat: Annotated[int, typer.Option(min=1, help="Timed runs per parser and system (the best counts).")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results here.")] = None,
) -> None:
    """Accuracy and speed of loopdesk's template miner and drain3 on every system under DATA."""
    logging.getLogger("drain3").setLevel(logging.WARNING)
    score = _scorer(scorer)
    systems = sorted(p.name for p in data.iterdir() if p.is_dir())
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name in PARSERS}
    for system in systems:
        contents, truth = score.load(data / system)
        for name, parser in PARSERS.items():
            predicted, seconds = _timed(parser, contents, repeat)
            results[name][system] = {**score.score(truth, predicted), "lines": len(contents), "seconds": seconds}

    summary: dict[str, dict[str, float]] = {}
    for name, rows in results.items():
        summary[name] = {m: sum(r[m] for r in rows.values()) / len(rows) for m in METRICS}
        summary[name]["lines_per_s"] = sum(r["lines"] for r in rows.values()) / sum(r["seconds"] for r in rows.values())
    console = Console(width=100)
    table = Table(title=f"Log template mining on {data.name} (in-process, best of {repeat} runs)")
    for column in ("system", "parser", *METRICS, "lines/s"):
        table.add_column(column, justify="left" if column in ("system", "parser") else "right")
    for system in [*systems, "average"]:
        for name in PARSERS:
            row = summary[name] if system == "average" else results[name][system]
            speed = row["lines_per_s"] if system == "average" else row["lines"] / row["seconds"]
            table.add_row(system, name, *(f"{row[m]:.3f}" for m in METRICS), f"{speed:,.0f}")
        table.add_section()
    console.print(table)
    mine_speed = summary["loopdesk"]["lines_per_s"]
    for name in PARSERS:
        if name != "loopdesk":
            ratio = mine_speed / summary[name]["lines_per_s"]
            console.print(
                f"loopdesk vs {name}: GA {summary['loopdesk']['GA'] - summary[name]['GA']:+.3f}, "
                f"PA {summary['loopdesk']['PA'] - summary[name]['PA']:+.3f}, speed x{ratio:.2f}"
            )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"systems": results, "average": summary}, indent=2))


if __name__ == "__main__":
    typer.run(main)

"""Issue-type benchmark: loopdesk's `IssueTypeModel` against a plain TF-IDF + LogisticRegression baseline.

Both are trained and scored by the NLBSE'24 scorer itself (`eval_issue_types.py`: per-repository macro-F1,
averaged over repositories), through their command lines, on folds of the NLBSE'24 training split (the test
split is not available here). Fold CSVs, models and the scorer's work files live in a temporary directory that
is removed afterwards: nothing derived from the data lands in the repository.

- within: stratified 5-fold over (repo, label), the acceptance set-up (test issues from the training repos);
- loro: leave one repository out (train on four, test on the fifth), a harder test of generality;
- default: the shipped model, scored on all 1,500 issues without training.

Speed: the scorer's items/s (whole process, start-up included) and, in this process, classify_batch on all
1,500 issues (type + severity + category + language) and the bare model, best of three.

    nice -n 10 .venv/bin/python benchmarks/issue_types.py run [--folds within,loro] [--json out.json]
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LABELS = {"bug": "bug", "feature": "suggestion", "enhancement": "suggestion", "question": "question"}
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(highlight=False)
csv.field_size_limit(10**9)


def _read(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader), list(reader.fieldnames or [])


def _write(path: Path, rows: list[dict[str, str]], fields: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _folds(rows: list[dict[str, str]], kinds: list[str], seed: int) -> list[tuple[str, list[int], list[int]]]:
    from sklearn.model_selection import StratifiedKFold

    folds = []
    if "within" in kinds:
        keys = [f"{r['repo']}|{r['label']}" for r in rows]
        splitter = StratifiedKFold(5, shuffle=True, random_state=seed)
        for i, (train, test) in enumerate(splitter.split(np.zeros(len(rows)), keys)):
            folds.append((f"within-{i}", list(train), list(test)))
    if "loro" in kinds:
        for repo in sorted({r["repo"] for r in rows}):
            train = [i for i, r in enumerate(rows) if r["repo"] != repo]
            folds.append((f"loro-{repo}", train, [i for i, r in enumerate(rows) if r["repo"] == repo]))
    return folds


def _score(scorer: Path, test: Path, classify: str, train_csv: Path | None, train: str | None, tmp: Path) -> dict:
    command = [sys.executable, str(scorer), "--test", str(test), "--classify-cmd", classify, "--json"]
    if train_csv is not None and train is not None:
        command += ["--train", str(train_csv), "--train-cmd", train]
    # The scorer's mkdtemp honours TMPDIR: its copies of the data go away with ours.
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp)})
    if done.returncode:
        raise RuntimeError(f"scorer failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    speed = re.search(r"; (\d+) items/s", done.stdout)
    trained = re.search(r"train: ([\d.]+)s", done.stdout)
    result["items_per_s"] = int(speed.group(1)) if speed else None
    result["train_s"] = float(trained.group(1)) if trained else None
    return result


def _throughput(data: Path) -> dict[str, float]:
    from loopdesk.triage.issue_type import IssueTypeModel, classify_batch, load_default
    from loopdesk.triage.issue_type.text import to_document

    rows, _ = _read(data)
    items = [{"title": r["title"], "body": r["body"]} for r in rows]
    records = [{**items[i], "issue_type": LABELS[r["label"]], "repo": r["repo"]} for i, r in enumerate(rows)]
    trained = IssueTypeModel.train(records)  # in memory only
    docs = [to_document(item) for item in items]

    def best(run: Any) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return len(items) / min(times)

    def batches(model: Any) -> None:
        for i in range(0, len(items), 256):
            classify_batch(items[i : i + 256], model)

    return {
        "classify_default_items_per_s": best(lambda: batches(load_default())),
        "classify_trained_items_per_s": best(lambda: batches(trained)),
        "model_only_trained_items_per_s": best(lambda: trained.predict_proba(docs)),
    }


@app.command()
def run(
    data: Annotated[Path, typer.Option(help="NLBSE'24 training split.")] = SHARED / "data/nlbse24/issues_train.csv",
    scorer: Annotated[Path, typer.Option(help="The scorer.")] = SHARED / "tools/eval_issue_types.py",
    folds: Annotated[str, typer.Option(help="Comma-separated: within, loro.")] = "within,loro",
    seed: Annotated[int, typer.Option(help="Shuffle seed of the within-repo folds.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results here.")] = None,
) -> None:
    """Cross-validate loopdesk and the baseline with the scorer; score the shipped model; measure speed."""
    py = sys.executable
    ours = (f"{py} -m loopdesk.triage.issue_type.cli train --input {{train}} --model-dir {{model}}",
            f"{py} -m loopdesk.triage.issue_type.cli classify --model-dir {{model}}")  # fmt: skip
    base = (f"{py} {Path(__file__).resolve()} baseline-train --input {{train}} --model-dir {{model}}",
            f"{py} {Path(__file__).resolve()} baseline-classify --model-dir {{model}}")  # fmt: skip
    rows, fields = _read(data)
    results: dict[str, Any] = {"folds": {}}
    table = Table("fold", "loopdesk F1", "baseline F1", "ratio", "loopdesk items/s", "baseline items/s", "train s")
    with tempfile.TemporaryDirectory(prefix="issue-types-") as name:
        tmp = Path(name)
        for fold, train, test in _folds(rows, [k.strip() for k in folds.split(",")], seed):
            train_csv = _write(tmp / f"{fold.replace('/', '_')}-train.csv", [rows[i] for i in train], fields)
            test_csv = _write(tmp / f"{fold.replace('/', '_')}-test.csv", [rows[i] for i in test], fields)
            mine = _score(scorer, test_csv, ours[1], train_csv, ours[0], tmp)
            other = _score(scorer, test_csv, base[1], train_csv, base[0], tmp)
            results["folds"][fold] = {"loopdesk": mine, "baseline": other}
            ratio = mine["cross_repo_f1"] / other["cross_repo_f1"]
            table.add_row(fold, f"{mine['cross_repo_f1']:.3f}", f"{other['cross_repo_f1']:.3f}", f"{ratio:.3f}",
                          str(mine["items_per_s"]), str(other["items_per_s"]), f"{mine['train_s']:.0f}")  # fmt: skip
            console.print(f"{fold}: loopdesk {mine['cross_repo_f1']:.3f}, baseline {other['cross_repo_f1']:.3f}")
        for kind in ("within", "loro"):
            picked = [v for k, v in results["folds"].items() if k.startswith(kind)]
            if picked:
                f1 = float(np.mean([v["loopdesk"]["cross_repo_f1"] for v in picked]))
                f1_base = float(np.mean([v["baseline"]["cross_repo_f1"] for v in picked]))
                results[f"{kind}_mean"] = {"loopdesk": f1, "baseline": f1_base, "ratio": f1 / f1_base}
                table.add_row(f"[bold]{kind} mean", f"[bold]{f1:.3f}", f"{f1_base:.3f}", f"{f1 / f1_base:.3f}")
        results["default_model"] = _score(scorer, data, ours[1].replace(" --model-dir {model}", ""), None, None, tmp)
    default = results["default_model"]
    table.add_row("default model (no training, all 1,500)", f"{default['cross_repo_f1']:.3f}", "", "",
                  str(default["items_per_s"]))  # fmt: skip
    console.print(table)
    results["throughput"] = _throughput(data)
    for key, value in results["throughput"].items():
        console.print(f"{key}: {value:,.0f}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2))


@app.command("baseline-train")
def baseline_train(
    input: Annotated[Path, typer.Option("--input")], model_dir: Annotated[Path, typer.Option("--model-dir")]
) -> None:
    """The baseline: TF-IDF word 1-2 grams of title + body, LogisticRegression (scikit-learn defaults)."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    records = [json.loads(line) for line in input.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [f"{r.get('title') or ''}\n{r.get('body') or ''}" for r in records]
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), LogisticRegression(max_iter=2000)
    )
    model.fit(texts, [r["issue_type"] for r in records])
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_dir / "baseline.joblib")


@app.command("baseline-classify")
def baseline_classify(model_dir: Annotated[Path, typer.Option("--model-dir")]) -> None:
    import joblib

    model = joblib.load(model_dir / "baseline.joblib")
    items = [json.loads(line) for line in sys.stdin if line.strip()]
    labels = model.predict([f"{i.get('title') or ''}\n{i.get('body') or ''}" for i in items]) if items else []
    sys.stdout.write("".join(json.dumps({"issue_type": str(label)}) + "\n" for label in labels))


if __name__ == "__main__":
    app()

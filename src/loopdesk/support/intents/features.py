"""The feature space of the intent model: a sentence embedding beside word and character TF-IDF blocks.

The embedding (multilingual-e5-small, the de-duplication embedder) carries meaning across paraphrases and
languages; the n-grams carry the exact words that name an intent. Word n-grams see Chinese as character uni- and
bigrams (the issue-type tokenizer), and `char_wb` n-grams catch inflections and typos. Vocabularies and IDF are
stored as JSON + arrays and the vectorizers rebuilt from them on load: nothing is pickled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from loopdesk.triage.issue_type.text import WORD_TOKEN_PATTERN, space_cjk

Analyzer = Literal["word", "char_wb"]
MAX_TEXT_CHARS = 2_000  # a support message; longer input is cut before the n-grams


@dataclass(frozen=True, slots=True)
class BlockSpec:
    name: str
    analyzer: Analyzer
    ngram_range: tuple[int, int]
    weight: float = 1.0
    min_df: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlockSpec:
        spec = cls(**{**data, "ngram_range": tuple(data["ngram_range"])})
        if spec.analyzer not in ("word", "char_wb") or not 1 <= spec.ngram_range[0] <= spec.ngram_range[1] <= 8:
            raise ValueError(f"bad feature block {data!r}")
        return spec


def _lower_spaced(text: str) -> str:
    return space_cjk(text[:MAX_TEXT_CHARS].lower())


def _vectorizer(spec: BlockSpec, min_df: int, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    if spec.analyzer == "word":
        options: dict[str, Any] = {"preprocessor": _lower_spaced, "token_pattern": WORD_TOKEN_PATTERN}
    else:
        options = {"analyzer": "char_wb", "preprocessor": lambda text: text[:MAX_TEXT_CHARS].lower()}
    return TfidfVectorizer(
        ngram_range=spec.ngram_range, min_df=min_df, sublinear_tf=True, vocabulary=vocabulary, dtype=np.float32,
        **options,
    )  # fmt: skip


class Block:
    """One fitted TF-IDF block: its spec, its terms in column order and their IDF."""

    def __init__(self, spec: BlockSpec, terms: list[str], idf: np.ndarray) -> None:
        if len(terms) != len(idf) or len(set(terms)) != len(terms) or not np.all(np.isfinite(idf)):
            raise ValueError(f"feature block {spec.name}: vocabulary and IDF do not match")
        self.spec, self.terms = spec, terms
        self._vectorizer = None
        if terms:
            self._vectorizer = _vectorizer(spec, 1, {term: i for i, term in enumerate(terms)})
            self._vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
        self.idf = np.asarray(idf, dtype=np.float32)

    @classmethod
    def fit(cls, spec: BlockSpec, texts: list[str]) -> Block:
        # min_df=2 can leave a tiny corpus with no vocabulary at all: then every term is kept.
        for min_df in dict.fromkeys((spec.min_df, 1)):
            vectorizer = _vectorizer(spec, min_df)
            try:
                vectorizer.fit(texts)
            except ValueError:
                continue
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            return cls(spec, terms, vectorizer.idf_)
        return cls(spec, [], np.empty(0))

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if self._vectorizer is None:
            return sp.csr_matrix((len(texts), 0), dtype=np.float32)
        return self._vectorizer.transform(texts) * self.spec.weight


class FeatureSpace:
    """[embedding · embedding_weight, block₁, block₂, …] as one CSR matrix per batch of texts."""

    def __init__(self, blocks: list[Block], embedding_dims: int, embedding_weight: float) -> None:
        if embedding_dims < 0 or not math.isfinite(embedding_weight) or embedding_weight < 0:
            raise ValueError("bad embedding block")
        self.blocks, self.embedding_dims, self.embedding_weight = blocks, embedding_dims, embedding_weight

    @property
    def n_features(self) -> int:
        return self.embedding_dims + sum(len(b.terms) for b in self.blocks)

    @classmethod
    def fit(
        cls, texts: list[str], specs: tuple[BlockSpec, ...], embedding_dims: int, embedding_weight: float
    ) -> FeatureSpace:
        return cls([Block.fit(spec, texts) for spec in specs], embedding_dims, embedding_weight)

    def matrix(self, texts: list[str], vectors: np.ndarray | None) -> sp.csr_matrix:
        parts = [block.transform(texts) for block in self.blocks]
        if self.embedding_dims:
            if vectors is None or vectors.shape != (len(texts), self.embedding_dims):
                raise ValueError(f"expected {len(texts)} embeddings of {self.embedding_dims} dimensions")
            parts.insert(0, sp.csr_matrix(vectors.astype(np.float32) * self.embedding_weight))
        return sp.hstack(parts, format="csr", dtype=np.float32)

    def to_state(self) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, np.ndarray]]:
        """(config, vocabularies as term lists in column order, IDF arrays) for saving."""
        config = {
            "blocks": [asdict(b.spec) for b in self.blocks],
            "embedding_dims": self.embedding_dims,
            "embedding_weight": self.embedding_weight,
        }
        return config, {b.spec.name: b.terms for b in self.blocks}, {f"idf_{b.spec.name}": b.idf for b in self.blocks}

    @classmethod
    def from_state(
        cls, config: dict[str, Any], vocabularies: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> FeatureSpace:
        blocks = []
        for data in config["blocks"]:
            spec = BlockSpec.from_dict(data)
            terms = vocabularies.get(spec.name)
            idf = arrays.get(f"idf_{spec.name}")
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms) or idf is None:
                raise ValueError(f"feature block {spec.name}: vocabulary or IDF missing")
            blocks.append(Block(spec, terms, idf))
        return cls(blocks, int(config["embedding_dims"]), float(config["embedding_weight"]))

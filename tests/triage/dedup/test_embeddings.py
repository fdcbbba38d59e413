"""The embedding model: shape, normalisation, bilingual separation; the loud fallback."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import structlog
from structlog.testing import capture_logs

from loopdesk.triage.dedup import embeddings
from loopdesk.triage.dedup.embeddings import DIMS, Embedder, EmbedderUnavailable, HashingEmbedder, get_embedder

PARAPHRASES = [
    ("The checkout page freezes when I press Pay", "Pressing the pay button hangs the checkout screen"),
    ("点击支付后结算页面卡死", "按了付款按钮，结账页面就卡住不动了"),
    ("Refund still not received after two weeks", "It's been 14 days and my refund hasn't arrived"),
    ("退款两周了还没到账", "已经14天了，退款还没收到"),
]


class TestModel:
    def test_vectors_are_normalised_and_deterministic(self, embedder: Embedder) -> None:
        vectors = embedder.embed(["dark mode please", "请添加深色主题", ""])
        assert vectors.shape == (3, DIMS) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert np.allclose(embedder.embed(["dark mode please"])[0], vectors[0], atol=1e-6)
        assert embedder.embed([]).shape == (0, DIMS)

    def test_paraphrases_score_above_unrelated_pairs_in_both_languages(self, embedder: Embedder) -> None:
        texts = [t for pair in PARAPHRASES for t in pair]
        vectors = embedder.embed(texts)
        same = [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(PARAPHRASES))]
        different = [
            float(vectors[a] @ vectors[b])
            for a, b in itertools.combinations(range(len(texts)), 2)
            if a // 2 != b // 2 and (a // 2) % 2 == (b // 2) % 2  # same language, different report
        ]
        assert min(same) > max(different)

    def test_text_the_engine_cannot_take_is_made_safe(self, embedder: Embedder) -> None:
        vectors = embedder.embed(["nul\x00inside", "lone \ud800 surrogate"])
        assert np.isfinite(vectors).all()


class TestLoading:
    @pytest.fixture
    def broken_model(self, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
        def refuse(self: object, **_: object) -> None:
            raise OSError("model file missing")

        embeddings.reset_embedder()
        monkeypatch.setattr(embeddings, "E5Embedder", type("Broken", (), {"name": "e5", "__init__": refuse}))
        yield
        monkeypatch.undo()
        embeddings.reset_embedder()  # the next caller loads the real model again

    @pytest.mark.usefixtures("broken_model")
    def test_a_model_that_fails_to_load_falls_back_loudly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with capture_logs() as logs:
            # A logger made inside the capture: the module's may be cached from an app configured earlier.
            monkeypatch.setattr(embeddings, "log", structlog.get_logger("loopdesk.dedup"))
            fallback = get_embedder()
        assert isinstance(fallback, HashingEmbedder)
        assert [(e["event"], e["log_level"]) for e in logs] == [("dedup.embedder.fallback", "error")]
        assert "model file missing" in logs[0]["error"]

    @pytest.mark.usefixtures("broken_model")
    def test_no_fallback_where_it_is_not_allowed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(EmbedderUnavailable):
            get_embedder(allow_fallback=False)
        monkeypatch.setenv("LOOPDESK_ENV", "production")
        with pytest.raises(EmbedderUnavailable):
            get_embedder()

    def test_the_fallback_is_deterministic_and_lexical(self) -> None:
        fallback = HashingEmbedder()
        a, b, c = fallback.embed(["dark mode please", "Dark mode, please", "refund not received"])
        assert np.allclose(fallback.embed(["dark mode please"])[0], a)
        assert float(a @ b) > 0.8 > float(a @ c)
        assert np.allclose(np.linalg.norm(fallback.embed(["", "x"]), axis=1), 1.0)

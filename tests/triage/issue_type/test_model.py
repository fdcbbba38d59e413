"""Training, persistence and the numpy feature path of `IssueTypeModel`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from loopdesk.triage.issue_type import IssueTypeModel, TrainConfig
from loopdesk.triage.issue_type.features import WORD_TOKEN_PATTERN, _char_wb_terms, _word_terms
from loopdesk.triage.issue_type.seed import seed_records
from loopdesk.triage.issue_type.text import space_cjk, to_document

PROBES = [
    {"title": "Crash when saving a file", "body": "Segmentation fault (core dumped)"},
    {"title": "Please add an export button", "body": "It would be great to export as CSV."},
    {"title": "How can I change the language?", "body": "Is there a setting for this?"},
    {"title": "保存时报错", "body": "点击保存就崩溃"},
]


@pytest.fixture(scope="module")
def small_records():
    # 40 records per type and language from the seed templates; the English ones come from one made-up
    # source, the Chinese ones from another.
    records = seed_records(per_class=40, seed=3)
    for record in records:
        record["repo"] = (
            "acme/mobile" if any("\u4e00" <= ch <= "\u9fff" for ch in record["title"] + record["body"]) else "acme/web"
        )
    return records


@pytest.fixture(scope="module")
def trained(small_records):
    return IssueTypeModel.train(small_records, TrainConfig(min_domain_items=20))


def test_train_save_load_round_trip_predicts_the_same(trained, tmp_path):
    trained.save(tmp_path / "model")
    loaded = IssueTypeModel.load(tmp_path / "model")
    assert loaded.domains == ("acme/mobile", "acme/web")
    docs = [to_document(item) for item in PROBES]
    np.testing.assert_allclose(loaded.predict_proba(docs), trained.predict_proba(docs), atol=1e-5)
    assert [r["issue_type"] for r in loaded.predict(PROBES)] == ["bug", "suggestion", "question", "bug"]


def test_saved_model_is_json_and_plain_arrays(trained, tmp_path):
    trained.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "vocabulary.json", "weights.npz"]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["classes"] == ["bug", "suggestion", "question"]
    assert meta["info"]["records"] == trained.info["records"]
    with np.load(tmp_path / "weights.npz", allow_pickle=False) as arrays:
        assert "coef_values" in arrays.files


def test_records_without_sources_train_a_single_domain_model(small_records):
    records = [{k: v for k, v in r.items() if k != "repo"} for r in small_records]
    model = IssueTypeModel.train(records)
    assert model.domains == ()
    assert model.domain_probs([to_document(PROBES[0])]) is None


def test_source_model_recognises_where_a_report_comes_from(trained):
    probs = trained.domain_probs([to_document(item) for item in PROBES])
    assert probs.shape == (4, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    mobile = trained.domains.index("acme/mobile")
    assert (probs[:3, mobile] < 0.5).all() and probs[3, mobile] > 0.5


def test_label_aliases_and_unusable_records_are_handled(small_records):
    records = [dict(r, issue_type="feature") if r["issue_type"] == "suggestion" else r for r in small_records]
    records += [{"title": "x", "issue_type": "chore"}, {"title": "", "body": "", "issue_type": "bug"}]
    model = IssueTypeModel.train(records, TrainConfig(min_domain_items=20))
    assert model.info["per_class"]["suggestion"] > 0
    assert model.info["skipped"] == {"unknown_label": 1, "empty_text": 1}


def test_training_refuses_a_set_without_every_issue_type():
    records = [{"title": f"crash {i}", "issue_type": "bug"} for i in range(5)]
    records += [{"title": f"how do I {i}?", "issue_type": "question"} for i in range(5)]
    with pytest.raises(ValueError, match="suggestion"):
        IssueTypeModel.train(records)


def test_tiny_corpus_still_trains():
    records = [
        {"title": "App crashes", "issue_type": "bug"},
        {"title": "Crash on start", "issue_type": "bug"},
        {"title": "Add dark mode", "issue_type": "suggestion"},
        {"title": "Please add export", "issue_type": "suggestion"},
        {"title": "How do I log in?", "issue_type": "question"},
        {"title": "Where is the setting?", "issue_type": "question"},
    ]
    assert IssueTypeModel.train(records).predict([{"title": "It crashes"}])[0]["issue_type"] in {"bug", "question"}


TEXTS = [
    "Crash in `render()` when   props\tare\nmissing!!",
    "登录页面点击 Login 按钮报错 500，怎么办？",
    "a",
    "",
    "ログインできません. 로그인 실패",
]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3)])
def test_word_analyzer_matches_scikit_learn(ngram_range):
    reference = TfidfVectorizer(
        ngram_range=ngram_range, preprocessor=lambda s: space_cjk(s.lower()), token_pattern=WORD_TOKEN_PATTERN
    ).build_analyzer()
    for text in TEXTS:
        assert sorted(_word_terms(text, ngram_range)) == sorted(reference(text))


@pytest.mark.parametrize("ngram_range", [(2, 5), (3, 5), (1, 1)])
def test_char_wb_analyzer_matches_scikit_learn(ngram_range):
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
    for text in TEXTS:
        assert sorted(_char_wb_terms(text, ngram_range)) == sorted(reference(text))


def test_feature_rows_match_scikit_learn_tfidf(trained):
    block = trained.features.blocks[0]
    vectorizer = TfidfVectorizer(
        analyzer=lambda text: _word_terms(text, block.spec.ngram_range), vocabulary=block.vocabulary, sublinear_tf=True
    )
    vectorizer.idf_ = block.idf
    for item in PROBES:
        doc = to_document(item)
        expected = block.spec.weight * vectorizer.transform([block.text_of(doc)]).toarray()[0]
        indices, values = block.transform_one(block.text_of(doc))
        actual = np.zeros_like(expected)
        actual[indices] = values
        np.testing.assert_allclose(actual, expected, atol=1e-6)

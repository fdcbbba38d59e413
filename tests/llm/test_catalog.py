"""The configured models as staff see them: provider, model and host, never a key or what a URL may hide."""

from __future__ import annotations

import os

import pytest

from loopdesk.llm.catalog import configured_models
from loopdesk.llm.settings import LLMSettings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("OPENAI_API_KEY", "DASHSCOPE_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("LOOPDESK_LLM_"):
            monkeypatch.delenv(name)


def _settings(**values) -> LLMSettings:
    return LLMSettings(_env_file=None, **values)


def test_the_default_model_is_listed_apart_from_the_named_ones(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dashscope-secret")
    default, named = configured_models(
        _settings(
            llm_provider="qwen",
            llm_model="qwen-plus",
            llm_models={"b": {"provider": "ollama"}, "a": {"provider": "offline"}},
        )
    )
    assert (default.name, default.provider, default.model) == (None, "qwen", "qwen-plus")
    assert default.endpoint == "https://dashscope.aliyuncs.com" and default.api_key_configured is True
    assert [m.name for m in named] == ["a", "b"]  # by name
    assert (named[1].provider, named[1].endpoint, named[1].api_key_configured) == (
        "ollama",
        "http://localhost:11434",
        False,
    )
    assert "sk-dashscope-secret" not in repr((default, named))


def test_an_endpoint_keeps_only_scheme_host_and_port():
    url = "https://user:pa55@models.internal:8443/v1/sk-in-path?api_key=sk-in-query#frag"
    _, [model] = configured_models(_settings(llm_models={"m": {"provider": "vllm", "model": "q", "base_url": url}}))
    assert model.endpoint == "https://models.internal:8443"
    for secret in ("pa55", "sk-in-path", "sk-in-query", "user"):
        assert secret not in repr(model)


def test_a_model_that_cannot_work_says_why_without_quoting_its_url():
    _, models = configured_models(
        _settings(
            llm_models={
                "port": {"provider": "vllm", "model": "q", "base_url": "http://host:s3cr3t/v1"},
                "temp": {"provider": "openai", "model": "gpt-4o-mini", "temperature": "hot"},
            }
        )
    )
    port, temp = models
    assert port.problem == "the base URL is not a valid URL" and "s3cr3t" not in repr(port)
    assert (port.provider, port.model, port.endpoint) == ("vllm", "q", None)
    assert temp.problem is not None and "temperature" in temp.problem

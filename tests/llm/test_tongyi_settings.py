"""The seed's TONGYI_* variables: alone they select qwen on DashScope; LOOPDESK_LLM_* always win."""

from __future__ import annotations

import os

import pytest
from langchain_openai import ChatOpenAI

from loopdesk.llm import LLMSettings, RetryingChatModel
from loopdesk.llm.factory import DASHSCOPE_URL, build_chat_model, describe


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("TONGYI_API_KEY", "TONGYI_MODEL_NAME", "DASHSCOPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("LOOPDESK_LLM_"):
            monkeypatch.delenv(name)


def test_tongyi_variables_alone_select_qwen_with_their_key_and_model(monkeypatch):
    monkeypatch.setenv("TONGYI_API_KEY", "sk-tongyi-secret")
    monkeypatch.setenv("TONGYI_MODEL_NAME", "qwen-max")
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model) == ("qwen", "qwen-max")
    assert settings.llm_api_key is not None and settings.llm_api_key.get_secret_value() == "sk-tongyi-secret"
    model = build_chat_model(None, settings)
    assert isinstance(model, RetryingChatModel) and isinstance(model.inner, ChatOpenAI)
    chat = model.inner
    assert (chat.model_name, chat.openai_api_base) == ("qwen-max", DASHSCOPE_URL)
    assert chat.openai_api_key.get_secret_value() == "sk-tongyi-secret"


def test_the_model_defaults_to_qwen_plus(monkeypatch):
    monkeypatch.setenv("TONGYI_API_KEY", "sk-tongyi")
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model) == ("qwen", "qwen-plus")


def test_describe_shows_qwen_on_dashscope_and_never_the_key(monkeypatch):
    monkeypatch.setenv("TONGYI_API_KEY", "sk-tongyi-secret")
    settings = LLMSettings(_env_file=None)
    assert describe(None, settings) == {
        "provider": "qwen",
        "model": "qwen-plus",
        "base_url": DASHSCOPE_URL,
        "api_key_configured": True,
    }
    assert "sk-tongyi-secret" not in repr(settings) + str(settings.model_dump())
    assert "tongyi_api_key" not in settings.model_dump()


def test_loopdesk_variables_win_over_tongyi(monkeypatch):
    monkeypatch.setenv("TONGYI_API_KEY", "sk-tongyi")
    monkeypatch.setenv("TONGYI_MODEL_NAME", "qwen-max")
    monkeypatch.setenv("LOOPDESK_LLM_MODEL", "qwen-turbo")
    monkeypatch.setenv("LOOPDESK_LLM_API_KEY", "sk-loopdesk")
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model, settings.llm_api_key.get_secret_value()) == (
        "qwen",
        "qwen-turbo",
        "sk-loopdesk",
    )
    monkeypatch.setenv("LOOPDESK_LLM_PROVIDER", "ollama")
    monkeypatch.setenv("LOOPDESK_LLM_MODEL", "llama3.1")
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model) == ("ollama", "llama3.1")
    monkeypatch.delenv("LOOPDESK_LLM_API_KEY")
    monkeypatch.setenv("LOOPDESK_LLM_PROVIDER", "openai")
    settings = LLMSettings(_env_file=None)
    assert settings.llm_provider == "openai" and settings.llm_api_key is None  # the qwen key stays with qwen


def test_nothing_set_leaves_the_provider_unset():
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model, settings.llm_api_key) == (None, None, None)
    assert describe(None, settings) == {"provider": "offline", "model": "offline"}


def test_an_empty_tongyi_key_or_a_model_name_alone_changes_nothing(monkeypatch):
    monkeypatch.setenv("TONGYI_MODEL_NAME", "qwen-max")
    assert LLMSettings(_env_file=None).llm_provider is None
    monkeypatch.setenv("TONGYI_API_KEY", "")
    assert LLMSettings(_env_file=None).llm_provider is None


def test_tongyi_variables_are_read_from_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TONGYI_API_KEY=sk-from-file\nTONGYI_MODEL_NAME=qwen-turbo\n")
    settings = LLMSettings(_env_file=env_file)
    assert (settings.llm_provider, settings.llm_model) == ("qwen", "qwen-turbo")
    assert settings.llm_api_key.get_secret_value() == "sk-from-file"

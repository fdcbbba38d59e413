"""build_chat_model / describe: every provider, every spec form, and the errors that say what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI
from pydantic import ValidationError

from loopdesk.llm import LLMConfigError, LLMSettings, OfflineChatModel, RetryingChatModel, ScriptedChatModel
from loopdesk.llm.factory import DASHSCOPE_URL, OLLAMA_URL, OPENROUTER_URL, build_chat_model, describe, with_retries

KEY_VARIABLES = ("OPENAI_API_KEY", "DASHSCOPE_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in (*KEY_VARIABLES, "OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("LOOPDESK_LLM_"):
            monkeypatch.delenv(name)


def _settings(**values) -> LLMSettings:
    return LLMSettings(_env_file=None, **values)


def _inner(model) -> ChatOpenAI | ChatAnthropic:
    assert isinstance(model, RetryingChatModel)
    return model.inner


@pytest.mark.parametrize(
    ("spec", "variable", "base_url", "model"),
    [
        ("openai:gpt-4o-mini", "OPENAI_API_KEY", None, "gpt-4o-mini"),
        ("qwen:qwen-plus", "DASHSCOPE_API_KEY", DASHSCOPE_URL, "qwen-plus"),
        ("dashscope:qwen-max", "DASHSCOPE_API_KEY", DASHSCOPE_URL, "qwen-max"),
        ("openrouter:anthropic/claude-3.5-sonnet", "OPENROUTER_API_KEY", OPENROUTER_URL, "anthropic/claude-3.5-sonnet"),
    ],
)
def test_openai_compatible_providers_get_their_endpoint_and_key(monkeypatch, spec, variable, base_url, model):
    monkeypatch.setenv(variable, "sk-from-env")
    chat = _inner(build_chat_model(spec, _settings()))
    assert isinstance(chat, ChatOpenAI)
    assert (chat.model_name, chat.openai_api_base) == (model, base_url)
    assert chat.openai_api_key.get_secret_value() == "sk-from-env"
    assert chat.max_retries == 0 and chat.stream_usage is True and chat.request_timeout == 60.0


def test_local_servers_need_no_key(monkeypatch):
    ollama = _inner(build_chat_model("ollama:llama3.1:8b", _settings()))
    assert (ollama.model_name, ollama.openai_api_base) == ("llama3.1:8b", OLLAMA_URL)
    assert ollama.openai_api_key.get_secret_value() == "not-needed"
    vllm = _inner(
        build_chat_model({"provider": "vllm", "model": "meta-llama/Llama-3.1-8B", "base_url": "http://gpu:8000/v1"})
    )
    assert (vllm.model_name, vllm.openai_api_base) == ("meta-llama/Llama-3.1-8B", "http://gpu:8000/v1")
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret")
    secured = _inner(build_chat_model({"provider": "vllm", "model": "m", "base_url": "http://gpu:8000/v1"}))
    assert secured.openai_api_key.get_secret_value() == "vllm-secret"


def test_vllm_without_a_base_url_says_what_to_set():
    with pytest.raises(LLMConfigError, match="LOOPDESK_LLM_BASE_URL"):
        build_chat_model("vllm:meta-llama/Llama-3.1-8B", _settings())


def test_anthropic_goes_through_chat_anthropic(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    model = build_chat_model("anthropic:claude-haiku-4-5", _settings(llm_timeout_seconds=12, llm_temperature=0.3))
    chat = _inner(model)
    assert isinstance(chat, ChatAnthropic)
    assert (chat.model, chat.max_retries, chat.default_request_timeout, chat.temperature) == (
        "claude-haiku-4-5",
        0,
        12,
        0.3,
    )
    assert chat.anthropic_api_key.get_secret_value() == "sk-ant-env"
    assert model.max_retries == 3 and model.metadata["loopdesk_llm_provider"] == "anthropic"


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("openai:gpt-4o", ["LOOPDESK_LLM_API_KEY", "OPENAI_API_KEY"]),
        ("qwen:qwen-plus", ["LOOPDESK_LLM_API_KEY", "DASHSCOPE_API_KEY"]),
        ("openrouter:x/y", ["LOOPDESK_LLM_API_KEY", "OPENROUTER_API_KEY"]),
        ("anthropic:claude-haiku-4-5", ["LOOPDESK_LLM_API_KEY", "ANTHROPIC_API_KEY"]),
        ("openai", ["LOOPDESK_LLM_MODEL"]),
        ("gpt-4o-mini", ["unknown model provider", "openai", "qwen", "ollama"]),
        ("mistral:large", ["unknown model provider 'mistral'"]),
        ({"provider": "openai", "model": "gpt-4o", "api_key_env": "TEAM_KEY"}, ["TEAM_KEY"]),
        ({"provider": "openai", "modle": "gpt-4o"}, ["unknown model config keys ['modle']"]),
        ({"provider": "openai", "model": "gpt-4o", "timeout": "fast"}, ["'timeout' must be a number"]),
        ({"provider": "openai", "model": 4}, ["'model' must be a string"]),
        ({"provider": "vllm", "model": "m", "base_url": "gpu:8000"}, ["must start with http"]),
        ("scripted", ["needs a script", "LOOPDESK_LLM_MODEL"]),
        ("scripted:/no/such/script.yaml", ["cannot read the model script /no/such/script.yaml"]),
        (42, ["'provider:model' or a dict"]),
    ],
)
def test_configuration_errors_name_what_to_set(spec, names):
    with pytest.raises(LLMConfigError) as caught:
        build_chat_model(spec, _settings())
    for name in names:
        assert name in str(caught.value)


def test_settings_are_the_default_spec_and_fill_in_only_for_their_own_provider(monkeypatch):
    settings = _settings(llm_provider="qwen", llm_model="qwen-max", llm_api_key="sk-settings", llm_max_retries=5)
    model = build_chat_model(None, settings)
    chat = _inner(model)
    assert (chat.model_name, chat.openai_api_key.get_secret_value(), model.max_retries) == (
        "qwen-max",
        "sk-settings",
        5,
    )
    assert _inner(build_chat_model("qwen:qwen-turbo", settings)).openai_api_key.get_secret_value() == "sk-settings"
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):  # the qwen key is never sent to another provider
        build_chat_model("openai:gpt-4o", settings)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert _inner(build_chat_model("openai:gpt-4o", settings)).openai_api_key.get_secret_value() == "sk-openai"


def test_a_per_assistant_dict_overrides_the_settings(monkeypatch):
    monkeypatch.setenv("TEAM_ROUTER_KEY", "sk-team")
    spec = {
        "provider": "openrouter",
        "model": "anthropic/claude-3.5-sonnet",
        "api_key_env": "TEAM_ROUTER_KEY",
        "temperature": 0.2,
        "timeout": 5,
        "max_retries": 1,
    }
    model = build_chat_model(spec, _settings(llm_temperature=0.9))
    chat = _inner(model)
    assert chat.openai_api_key.get_secret_value() == "sk-team"
    assert (chat.temperature, chat.request_timeout, model.max_retries) == (0.2, 5, 1)
    named = _inner(build_chat_model({"model": "ollama:qwen2.5:7b"}, _settings()))
    assert (named.model_name, named.openai_api_base) == ("qwen2.5:7b", OLLAMA_URL)


def test_offline_is_the_default_and_scripted_loads_its_script(tmp_path: Path):
    assert isinstance(build_chat_model(None, _settings()), OfflineChatModel)
    assert isinstance(build_chat_model("offline", _settings()), OfflineChatModel)
    script = tmp_path / "demo.yaml"
    script.write_text("turns:\n  - content: hello from the script\n")
    from_file = build_chat_model(f"scripted:{script}", _settings())
    assert isinstance(from_file, ScriptedChatModel) and from_file.invoke("hi").content == "hello from the script"
    from_settings = build_chat_model(None, _settings(llm_provider="scripted", llm_model=str(script)))
    assert from_settings.invoke("hi").content == "hello from the script"
    inline = build_chat_model({"provider": "scripted", "script": [{"content": "inline turn"}]})
    assert inline.invoke("hi").content == "inline turn"


def test_keys_never_appear_in_reprs_or_descriptions(monkeypatch):
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-very-secret-value")
    settings = _settings(llm_provider="vllm", llm_model="m", llm_base_url="http://user:pw-secret@gpu:8000/v1")
    for model in (build_chat_model("qwen:qwen-plus", settings), build_chat_model(None, settings)):
        assert "sk-very-secret-value" not in repr(model) + str(model)
    assert describe("qwen:qwen-plus", settings) == {
        "provider": "qwen",
        "model": "qwen-plus",
        "base_url": DASHSCOPE_URL,
        "api_key_configured": True,
    }
    described = describe(None, settings)
    assert described["base_url"] == "http://gpu:8000/v1" and "pw-secret" not in str(described)
    assert describe("openai:gpt-4o", settings)["api_key_configured"] is False  # describing never raises for a key
    assert describe(None, _settings()) == {"provider": "offline", "model": "offline"}
    assert describe("scripted:/srv/demo.yaml", _settings()) == {
        "provider": "scripted",
        "model": "scripted",
        "script": "/srv/demo.yaml",
    }


def test_settings_come_from_loopdesk_llm_variables(monkeypatch):
    monkeypatch.setenv("LOOPDESK_LLM_PROVIDER", "ollama")
    monkeypatch.setenv("LOOPDESK_LLM_MODEL", "llama3.1")
    monkeypatch.setenv("LOOPDESK_LLM_TIMEOUT_SECONDS", "15")
    monkeypatch.setenv("LOOPDESK_LLM_API_KEY", "sk-env-secret")
    monkeypatch.setenv("LOOPDESK_LLM_PRICES", '{"llama3.1": [0, 0], "my-finetune": [1.5, 6]}')
    settings = LLMSettings(_env_file=None)
    assert (settings.llm_provider, settings.llm_model, settings.llm_timeout_seconds) == ("ollama", "llama3.1", 15.0)
    assert settings.llm_prices == {"llama3.1": (0.0, 0.0), "my-finetune": (1.5, 6.0)}
    assert "sk-env-secret" not in repr(settings)
    chat = _inner(build_chat_model(None, settings))
    assert (chat.model_name, chat.request_timeout) == ("llama3.1", 15.0)
    monkeypatch.delenv("LOOPDESK_LLM_PRICES")
    assert LLMSettings(_env_file=None).llm_prices["gpt-4o-mini"] == (0.15, 0.60)  # the default table
    monkeypatch.setenv("LOOPDESK_LLM_PROVIDER", "skynet")
    with pytest.raises(ValidationError, match="llm_provider"):
        LLMSettings(_env_file=None)


def test_with_retries_after_bind_tools_never_multiplies_attempts(monkeypatch):
    from langchain_core.runnables import RunnableLambda
    from langchain_core.tools import tool

    @tool
    def lookup(order_id: str) -> str:
        """Look up an order."""
        return order_id

    settings = _settings(llm_provider="ollama", llm_model="llama3.1", llm_max_retries=1)
    bound = build_chat_model(None, settings).bind_tools([lookup])
    assert with_retries(bound, settings) is bound  # the factory's model retries already
    local = build_chat_model("offline", settings).bind_tools([lookup])
    assert with_retries(local, settings) is local
    calls = []

    def always_times_out(_: str) -> str:
        calls.append(1)
        raise TimeoutError

    with pytest.raises(TimeoutError):
        with_retries(RunnableLambda(always_times_out), settings, max_wait=0.01).invoke("x")
    assert len(calls) == 2  # 1 + llm_max_retries


def test_importing_the_settings_does_not_load_the_provider_sdks():
    code = (
        "import sys, loopdesk.llm.settings, loopdesk.llm\n"
        "heavy = [m for m in ('openai', 'anthropic', 'langchain_core', 'langchain_openai') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert loopdesk.llm.OfflineChatModel.__name__ == 'OfflineChatModel' and 'openai' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

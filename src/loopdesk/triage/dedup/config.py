"""De-duplication settings (`LOOPDESK_DEDUP_<NAME>`). The defaults are calibrated for the bundled
multilingual-e5-small, whose unrelated texts already score 0.75-0.87 (see benchmarks/README.md)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DedupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOPDESK_DEDUP_", env_file=".env", extra="ignore")

    link_threshold: float = Field(
        0.95, gt=0, le=1, description="cosine at or above which a same-script pair is linked without review"
    )
    suggest_threshold: float = Field(0.89, gt=0, le=1, description="cosine at or above which a pair is suggested")
    cross_script_bonus: float = Field(
        0.06, ge=0, le=0.5, description="added to zh-en pairs' cosine (the model's language gap); never auto-links"
    )
    candidates: int = Field(10, ge=1, le=100, description="nearest neighbours considered per check")
    max_chars: int = Field(1000, ge=100, le=100_000, description="characters of a text that are embedded")
    embed_threads: int = Field(1, ge=1, le=64, description="OpenMP threads of the embedding engine")

    @model_validator(mode="after")
    def _ordered(self) -> DedupSettings:
        if self.suggest_threshold > self.link_threshold:
            raise ValueError("suggest_threshold must not be above link_threshold")
        return self

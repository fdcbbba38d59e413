"""Bug priority scoring (seed §3.3): severity base score plus region, affected-user, business-impact and regression
points, mapped to P0–P4.

Levels: the seed's thresholds (≥90 P0, ≥70 P1, ≥50 P2, ≥30 P3). Its SLA table names P0–P3 (P3 reads "P3/P4"), while
its scoring code already sends scores below 30 to P4; we keep that: P4 is "below the P3 threshold", the lowest level.
The seed's P0 criteria also list data loss and security vulnerabilities, which its score ignores; here they are
optional flags that raise the level to a configurable floor (P0 by default) without changing the score.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator, model_validator

Level = Literal["P0", "P1", "P2", "P3", "P4"]
LEVELS: tuple[Level, ...] = ("P0", "P1", "P2", "P3", "P4")


class UserTier(BaseModel):
    """`points` when strictly more than `above` users are affected (the seed uses `>`)."""

    model_config = ConfigDict(frozen=True)

    above: NonNegativeInt
    points: int


class PriorityConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    severity_scores: dict[str, int] = {"critical": 80, "high": 60, "medium": 40, "low": 20}
    unknown_severity_score: int = 40
    # Region points apply only when the business impact is in `region_bonus_impacts` (empty: always).
    region_bonus: dict[str, int] = {"domestic": 10}
    region_bonus_impacts: frozenset[str] = frozenset({"core"})
    user_tiers: tuple[UserTier, ...] = (UserTier(above=10_000, points=15), UserTier(above=1_000, points=10))
    impact_scores: dict[str, int] = {"core": 15, "important": 10, "normal": 5, "minor": 0}
    unknown_impact_score: int = 5
    regression_points: int = 10
    # Minimum score for P0..P3; anything lower is P4.
    thresholds: dict[Literal["P0", "P1", "P2", "P3"], int] = {"P0": 90, "P1": 70, "P2": 50, "P3": 30}
    data_loss_floor: Level | None = "P0"
    security_floor: Level | None = "P0"

    @field_validator("severity_scores", "impact_scores", "region_bonus")
    @classmethod
    def _lower_keys(cls, value: dict[str, int]) -> dict[str, int]:
        return {key.strip().lower(): points for key, points in value.items()}

    @field_validator("user_tiers")
    @classmethod
    def _highest_first(cls, value: tuple[UserTier, ...]) -> tuple[UserTier, ...]:
        return tuple(sorted(value, key=lambda tier: tier.above, reverse=True))

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> PriorityConfig:
        missing = {"P0", "P1", "P2", "P3"} - self.thresholds.keys()
        if missing:
            raise ValueError(f"thresholds missing for {sorted(missing)}")
        values = [self.thresholds[level] for level in ("P0", "P1", "P2", "P3")]
        if any(high <= low for high, low in zip(values, values[1:], strict=False)):
            raise ValueError("thresholds must strictly decrease from P0 to P3")
        return self


class PriorityInput(BaseModel):
    severity: str = "medium"
    region: Literal["domestic", "international", "unknown"] = "unknown"
    affected_users: NonNegativeInt = 0
    business_impact: str = "normal"
    is_regression: bool = False
    data_loss: bool = False
    security_issue: bool = False

    @field_validator("severity", "business_impact")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class Contribution(BaseModel):
    factor: str
    value: str
    points: int
    note: str = ""


class PriorityResult(BaseModel):
    score: int
    level: Level
    score_level: Level = Field(description="The level from the score alone, before any floor.")
    contributions: list[Contribution]
    floor: str | None = Field(None, description="Why the level was raised above score_level, if it was.")

    def explain(self) -> str:
        parts = [f"{c.factor}={c.value}: {c.points:+d}" for c in self.contributions]
        text = f"{self.level} (score {self.score}: " + ", ".join(parts) + ")"
        return f"{text}; {self.floor}" if self.floor else text


def level_for_score(score: int, config: PriorityConfig | None = None) -> Level:
    thresholds = (config or PriorityConfig()).thresholds
    for level in ("P0", "P1", "P2", "P3"):
        if score >= thresholds[level]:
            return level
    return "P4"


def assess_priority(item: PriorityInput, config: PriorityConfig | None = None) -> PriorityResult:
    config = config or PriorityConfig()
    contributions = [_severity(item, config)]
    contributions.append(_region(item, config))
    contributions.append(_users(item, config))
    contributions.append(_impact(item, config))
    contributions.append(
        Contribution(
            factor="regression",
            value=str(item.is_regression).lower(),
            points=config.regression_points if item.is_regression else 0,
        )
    )
    score = sum(c.points for c in contributions)
    score_level = level_for_score(score, config)
    level, floor = score_level, None
    for flag, floor_level, label in (
        (item.data_loss, config.data_loss_floor, "data loss"),
        (item.security_issue, config.security_floor, "security issue"),
    ):
        if flag and floor_level is not None and LEVELS.index(floor_level) < LEVELS.index(level):
            level, floor = floor_level, f"raised to {floor_level} for {label}"
    return PriorityResult(score=score, level=level, score_level=score_level, contributions=contributions, floor=floor)


def _severity(item: PriorityInput, config: PriorityConfig) -> Contribution:
    if item.severity in config.severity_scores:
        return Contribution(factor="severity", value=item.severity, points=config.severity_scores[item.severity])
    return Contribution(
        factor="severity",
        value=item.severity,
        points=config.unknown_severity_score,
        note="unknown severity; default base score",
    )


def _region(item: PriorityInput, config: PriorityConfig) -> Contribution:
    points = config.region_bonus.get(item.region, 0)
    if points and config.region_bonus_impacts and item.business_impact not in config.region_bonus_impacts:
        impacts = "/".join(sorted(config.region_bonus_impacts))
        note = f"bonus applies to {impacts} impact only"
        return Contribution(factor="region", value=item.region, points=0, note=note)
    return Contribution(factor="region", value=item.region, points=points)


def _users(item: PriorityInput, config: PriorityConfig) -> Contribution:
    for tier in config.user_tiers:
        if item.affected_users > tier.above:
            return Contribution(
                factor="affected_users", value=str(item.affected_users), points=tier.points, note=f"> {tier.above}"
            )
    return Contribution(factor="affected_users", value=str(item.affected_users), points=0)


def _impact(item: PriorityInput, config: PriorityConfig) -> Contribution:
    if item.business_impact in config.impact_scores:
        return Contribution(
            factor="business_impact", value=item.business_impact, points=config.impact_scores[item.business_impact]
        )
    return Contribution(
        factor="business_impact",
        value=item.business_impact,
        points=config.unknown_impact_score,
        note="unknown impact; default points",
    )

"""Classifying a report at intake (CPU only): issue type, severity, category and language from
`triage.issue_type`; region from `triage.region`; priority from `triage.priority`; the SLA deadline from
`triage.sla` on the region's clock.

Region rule: the contact signals (client IP, registered region, phone) decide through `detect_region`.
When none of them is usable the report's language decides: a language of the home country (zh for CN)
→ domestic, any other → international. `region_reason` keeps which rule decided and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loopdesk.core.errors import LoopdeskError
from loopdesk.triage.issue_type import classify
from loopdesk.triage.priority import PriorityConfig, PriorityInput, PriorityResult, assess_priority
from loopdesk.triage.region import RegionConfig, Side, detect_region
from loopdesk.triage.sla import SlaConfig, sla_targets


class UnreadableReport(LoopdeskError):
    status_code, code, message = 422, "unreadable_report", "The report has no text to classify"


@dataclass(frozen=True, slots=True)
class Contact:
    """What the report says about where the reporter is; every field may be missing."""

    ip: str | None = None
    phone: str | None = None
    registered_region: str | None = None


@dataclass(frozen=True, slots=True)
class TriageConfig:
    region: RegionConfig = RegionConfig()
    priority: PriorityConfig = PriorityConfig()
    sla: SlaConfig = SlaConfig()


@dataclass(frozen=True, slots=True)
class Classification:
    issue_type: str
    confidence: float
    severity: str
    category: str
    language: str
    region: Side
    region_reason: dict[str, Any]
    priority: PriorityResult
    sla_deadline: datetime


def classify_report(
    title: str, description: str, contact: Contact, *, received_at: datetime, config: TriageConfig = TriageConfig()
) -> Classification:
    kind = next(iter(classify([{"title": title, "body": description}])))
    if "error" in kind:  # e.g. only control characters, which the classifier strips
        raise UnreadableReport(detail={"reason": kind["error"]})
    region, reason = decide_region(contact, kind["language"], config.region)
    priority = assess_priority(PriorityInput(severity=kind["severity"], region=region), config.priority)
    # The P-level resolution target, counted on the region's clock from the moment the report arrived.
    targets = sla_targets(
        priority.level, "classified", config.sla, start=received_at, tz=config.region.timezone_for(region)
    )
    return Classification(
        issue_type=kind["issue_type"],
        confidence=kind["confidence"],
        severity=kind["severity"],
        category=kind["category"],
        language=kind["language"],
        region=region,
        region_reason=reason,
        priority=priority,
        sla_deadline=targets.resolution_due,
    )


def decide_region(contact: Contact, language: str, config: RegionConfig) -> tuple[Side, dict[str, Any]]:
    """(region, reason): the contact signals when any is usable, else the report's language (module docstring)."""
    detected = detect_region(
        ip=contact.ip, registered_region=contact.registered_region, phone=contact.phone, config=config
    )
    factors = [factor.model_dump(exclude_defaults=False) for factor in detected.factors]
    if detected.region != "unknown":
        voters = ", ".join(f"{f.source} ({f.country})" for f in detected.factors if f.vote == detected.region)
        return detected.region, {
            "rule": "signals",
            "country": detected.country,
            "confidence": detected.confidence,
            "timezone": detected.timezone,
            "factors": factors,
            "explanation": f"{detected.region}: decided by {voters}",
        }
    home = config.resolved_home_languages()
    region: Side = "domestic" if language in home else "international"
    side = "a" if region == "domestic" else "not a"
    return region, {
        "rule": "language_fallback",
        "country": config.home_country if region == "domestic" else None,
        "confidence": 0.0,
        "timezone": config.timezone_for(region),
        "factors": factors,
        "explanation": (
            f"{region}: no usable IP, registered region or phone; the report's language {language!r} is {side} "
            f"language of the home country {config.home_country} ({', '.join(home) or 'none known'})"
        ),
    }

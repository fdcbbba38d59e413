"""The words of a notification, in Chinese (domestic tasks) and English (international): a subject line and a
short plain-text body that e-mail sends as it is and the chat senders turn into markdown. Rendered when the
delivery is written, so the outbox row holds exactly what goes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Language = Literal["zh", "en"]

_STAGES: dict[Language, dict[str, str]] = {
    "zh": {
        "received": "已接收", "classified": "已分类", "analyzed": "已分析", "routed": "已分派团队",
        "plan_review": "方案评审", "assigned": "已指派", "in_progress": "处理中", "feedback_pending": "待反馈进度",
        "resolved": "已解决", "verification": "待验证", "closed": "已关闭", "rejected": "已驳回",
    },
    "en": {
        "received": "received", "classified": "classified", "analyzed": "analyzed", "routed": "routed",
        "plan_review": "plan review", "assigned": "assigned", "in_progress": "in progress",
        "feedback_pending": "feedback pending", "resolved": "resolved", "verification": "verification",
        "closed": "closed", "rejected": "rejected",
    },
}  # fmt: skip
# Headlines of events that are not a stage change; a stage change reads "moved to <stage>".
_EVENTS: dict[Language, dict[str, str]] = {
    "zh": {
        "assigned": "任务已指派", "progress": "进度更新", "sla_warning": "SLA 即将超时",
        "sla_escalated": "SLA 已超时并升级", "stage": "任务进入「{stage}」阶段",
    },
    "en": {
        "assigned": "Task assigned", "progress": "Progress update", "sla_warning": "SLA at risk",
        "sla_escalated": "SLA breached, escalated", "stage": "Moved to {stage}",
    },
}  # fmt: skip
_LABELS: dict[Language, dict[str, str]] = {
    "zh": {"task": "任务", "stage": "阶段", "priority": "优先级", "note": "说明", "link": "查看"},
    "en": {"task": "Task", "stage": "Stage", "priority": "Priority", "note": "Note", "link": "Open"},
}
_COLON: dict[Language, str] = {"zh": "：", "en": ": "}
_MAX_SUBJECT_TITLE = 120
_MAX_NOTE = 500


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str


def _one_line(text: str, limit: int) -> str:
    """No line breaks (they would end an e-mail header) and at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stage_label(language: Language, stage: str) -> str:
    return _STAGES[language].get(stage, stage)


def headline(language: Language, event: str, stage: str) -> str:
    words = _EVENTS[language]
    if event.startswith("stage:"):
        return words["stage"].format(stage=stage_label(language, stage))
    return words.get(event, event)


def render(
    language: Language,
    *,
    event: str,
    task_number: str,
    title: str,
    stage: str,
    priority: str | None,
    link: str,
    note: str | None = None,
) -> Message:
    labels, colon = _LABELS[language], _COLON[language]
    head = headline(language, event, stage)
    subject = f"[{task_number}] {head}{colon}{_one_line(title, _MAX_SUBJECT_TITLE)}"
    lines = [
        head,
        "",
        f"{labels['task']}{colon}{task_number} {_one_line(title, _MAX_SUBJECT_TITLE)}",
        f"{labels['stage']}{colon}{stage_label(language, stage)}",
        f"{labels['priority']}{colon}{priority or '-'}",
    ]
    if note:
        lines.append(f"{labels['note']}{colon}{_one_line(note, _MAX_NOTE)}")
    lines.append(f"{labels['link']}{colon}{link}")
    return Message(subject=subject, body="\n".join(lines))

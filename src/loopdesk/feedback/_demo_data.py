"""What the demo seed writes (feedback/demo.py): its teams and staff, routing rules, customers, the reports and
how far each walks, and a week of generated logs with one planted incident. Data only, apart from the log
generator; nothing here touches the database."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from loopdesk.triage.store.fields import SEVERITY, ParsedLog

EMAIL_DOMAIN = "demo.loopdesk.example.com"
LOG_DAYS = 7
INCIDENT_BEFORE = timedelta(hours=20)  # yesterday for a morning start; inside the analysis' 24 h lookback
INCIDENT_LENGTH = timedelta(minutes=15)
_SEED = 18  # the logs are the same on every machine


@dataclass(frozen=True, slots=True)
class DemoPerson:
    key: str
    name: str
    timezone: str = "UTC"
    skills: tuple[str, ...] = ()
    on_call: tuple[dict[str, Any], ...] = ()  # empty: always on duty

    @property
    def email(self) -> str:
        return f"{self.key}@{EMAIL_DOMAIN}"


@dataclass(frozen=True, slots=True)
class DemoTeam:
    name: str
    description: str
    region: str | None
    lead: str  # a member's key
    members: tuple[DemoPerson, ...]


WEEKDAYS, EVERY_DAY = [0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6]
OFFICE_CN = ({"days": WEEKDAYS, "start": "09:00", "end": "18:00"},)
NIGHTS_CN = ({"days": EVERY_DAY, "start": "18:00", "end": "09:00"},)
OFFICE_UK = ({"days": WEEKDAYS, "start": "09:00", "end": "17:30"},)
OFFICE_JP = ({"days": WEEKDAYS, "start": "10:00", "end": "19:00"},)

TEAMS = (
    DemoTeam(
        name="支付组 Payments CN",
        description="Payments for customers in mainland China (domestic): cards, wallets, refunds.",
        region="domestic",
        lead="li.na",
        members=(
            DemoPerson("li.na", "李娜 Li Na", "Asia/Shanghai", ("payment",), OFFICE_CN),
            DemoPerson("wang.wei", "王伟 Wang Wei", "Asia/Shanghai", ("payment", "backend")),
            DemoPerson("chen.jing", "陈静 Chen Jing", "Asia/Shanghai", ("payment", "refund"), NIGHTS_CN),
        ),
    ),
    DemoTeam(
        name="Payments Intl",
        description="Payments for international customers: card schemes, PSP integrations, refunds.",
        region="international",
        lead="emma.clarke",
        members=(
            DemoPerson("emma.clarke", "Emma Clarke", "Europe/London", ("payment",), OFFICE_UK),
            DemoPerson("diego.alvarez", "Diego Alvarez", "America/Mexico_City", ("payment", "backend")),
        ),
    ),
    DemoTeam(
        name="Mobile",
        description="The iOS and Android apps, both regions.",
        region=None,
        lead="kenji.sato",
        members=(
            DemoPerson("kenji.sato", "Kenji Sato", "Asia/Tokyo", ("mobile", "ios"), OFFICE_JP),
            DemoPerson("priya.nair", "Priya Nair", "Asia/Kolkata", ("mobile", "android")),
        ),
    ),
)  # fmt: skip

# (module, region, team name, skill): tried in this order; the region is the task's.
RULES = (
    ("payments", "domestic", "支付组 Payments CN", "payment"),
    ("payments", "international", "Payments Intl", "payment"),
    ("mobile", None, "Mobile", "mobile"),
)

CUSTOMERS = (
    DemoPerson("zhang.min", "张敏"),
    DemoPerson("oliver.smith", "Oliver Smith"),
    DemoPerson("maria.garcia", "Maria Garcia"),
)

Walk = Literal["plan_review", "in_progress", "closed"]


@dataclass(frozen=True, slots=True)
class DemoReport:
    reporter: str  # a customer's key
    title: str
    description: str
    walk: Walk  # how far the seed takes it
    registered_region: str
    source_channel: str = "web"
    affected_modules: tuple[str, ...] = ()
    csat: int | None = None
    notes: dict[str, str] = field(default_factory=dict)


REPORTS = (
    DemoReport(
        "oliver.smith",
        "Card payment times out at checkout",
        "Yesterday paying by card at checkout spun for a long while and then failed with "
        "'payment gateway timeout'. I tried three times before it went through.",
        walk="closed",
        registered_region="GB",
        csat=5,
        notes={
            "progress": "Raised the gateway client's connection pool and added a circuit breaker; deployed.",
            "verify": "Paid twice today without a problem, thank you.",
            "csat": "Fixed within a day and I was kept informed.",
        },
    ),
    DemoReport(
        "zhang.min",
        "支付一直超时",
        "昨天下午用银行卡支付，订单提交后一直转圈，最后提示支付失败，扣款也没有显示。",
        walk="in_progress",
        registered_region="CN",
        source_channel="app",
        affected_modules=("payments",),
        notes={"progress": "已复现：网关超时集中在昨天下午，正在核对是否有重复扣款。"},
    ),
    DemoReport(
        "maria.garcia",
        "The iOS app crashes when I open my order history",
        "Since the last update the app closes as soon as I tap 'Order history'. iPhone 13, iOS 17.",
        walk="plan_review",
        registered_region="US",
        source_channel="app",
        affected_modules=("mobile",),
    ),
    DemoReport(
        "zhang.min",
        "建议增加深色模式",
        "晚上用手机 App 查看订单时屏幕太亮，希望能支持深色模式，或者跟随系统设置。",
        walk="plan_review",
        registered_region="CN",
        source_channel="app",
        affected_modules=("mobile",),
    ),
    DemoReport(
        "oliver.smith",
        "Please let me keep more than one card on file",
        "I would like to save a second card and choose at checkout, instead of typing the card in each time.",
        walk="plan_review",
        registered_region="GB",
        affected_modules=("payments",),
    ),
    DemoReport(
        "zhang.min",
        "退款三天了还没到账",
        "上周五申请的退款，系统显示已同意，但三天了银行卡还没有收到钱。",
        walk="plan_review",
        registered_region="CN",
        affected_modules=("payments",),
    ),
)


# -- the logs --------------------------------------------------------------------------------------------------

# (service, module, records per hour, normal messages, occasional errors and their share)
_TRAFFIC: tuple[tuple[str, str, int, tuple[str, ...], tuple[str, ...], float], ...] = (
    ("payments", "payments.api", 60, ("payment {id} captured in {ms} ms", "refund {id} accepted"), (), 0.0),
    ("orders", "orders.api", 12, ("order {id} created", "order {id} shipped"), ("order {id} stock check failed",),
     0.01),
    ("search", "search", 12, ("search query for item-{n} took {ms} ms",), ("search query timeout on shard {n}",), 0.02),
    ("auth", "auth", 12, ("user {user} logged in", "token refreshed for {user}"), ("login failed for {user}",), 0.03),
    ("mobile-bff", "mobile.app", 12, ("order history page served in {ms} ms", "push token registered for {user}"),
     ("iOS crash in OrderHistoryViewController: index out of range",), 0.02),
)  # fmt: skip


def incident_window(now: datetime) -> tuple[datetime, datetime]:
    """The planted incident: a burst of payment-gateway timeouts in `payments`, about 20 hours before `now`."""
    start = (now - INCIDENT_BEFORE).replace(second=0, microsecond=0)
    return start, start + INCIDENT_LENGTH


def _record(at: datetime, level: str, service: str, module: str, message: str, **attributes: Any) -> ParsedLog:
    return ParsedLog(
        ts=at, level=level, severity=SEVERITY[level], message=message, service=service, module=module,
        attributes=attributes,
    )  # fmt: skip


def demo_logs(now: datetime) -> Iterator[ParsedLog]:
    """A week of normal traffic for five services up to `now`, and the planted incident."""
    rng = random.Random(_SEED)  # noqa: S311 - demo data, not a secret
    start = (now - timedelta(days=LOG_DAYS)).replace(second=0, microsecond=0)
    minutes = int((now - start).total_seconds() // 60)
    for service, module, per_hour, normal, errors, error_share in _TRAFFIC:
        every = 60 // per_hour
        for minute in range(0, minutes, every):
            at = start + timedelta(minutes=minute, seconds=rng.randrange(60))
            user = f"u{rng.randrange(400)}"
            values = {"id": f"{module[:3]}-{minute}", "ms": rng.randrange(20, 180), "n": rng.randrange(8), "user": user}
            failed = errors and rng.random() < error_share
            message = (rng.choice(errors) if failed else rng.choice(normal)).format(**values)
            yield _record(
                at, "error" if failed else "info", service, module, message,
                user_id=user, session_id=f"s{rng.randrange(900)}", latency_ms=values["ms"],
            )  # fmt: skip
    begin, end = incident_window(now)
    for second in range(0, int((end - begin).total_seconds()), 10):
        at = begin + timedelta(seconds=second)
        order = f"ord-{second}"
        yield _record(
            at, "error", "payments", "payments.gateway", f"Payment gateway timeout after 3000 ms (order {order})",
            user_id=f"u{rng.randrange(400)}", latency_ms=3000,
        )  # fmt: skip

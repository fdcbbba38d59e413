"""`loopdesk triage region|priority`: JSONL in on stdin, one JSONL result (or error object) out per input line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import orjson
import typer
from pydantic import AwareDatetime, BaseModel, ConfigDict, NonNegativeInt, ValidationError

from loopdesk.triage.priority import PriorityInput, assess_priority
from loopdesk.triage.region import RegionConfig, detect_region
from loopdesk.triage.sla import BusinessCalendar, SlaConfig, sla_targets

app = typer.Typer(
    help="Offline triage over JSONL: domestic/international region detection and priority with SLA due times.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HomeCountry = Annotated[str, typer.Option(help="ISO alpha-2 code of the 'domestic' country.")]


class RegionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Any = None
    ip: str | None = None
    registered_region: str | None = None
    phone: str | int | None = None
    text: str | None = None


class PriorityRequest(RegionRequest):
    severity: str = "medium"
    # Absent → detected from ip / registered_region / phone / text.
    region: Literal["domestic", "international", "unknown"] | None = None
    affected_users: NonNegativeInt = 0
    business_impact: str = "normal"
    is_regression: bool = False
    data_loss: bool = False
    security_issue: bool = False
    created_at: AwareDatetime | None = None
    stage: str = "received"
    business_hours: bool | None = None
    holidays: list[date] = []
    pauses: list[tuple[AwareDatetime, AwareDatetime]] = []


def _config(home_country: str) -> RegionConfig:
    try:
        return RegionConfig(home_country=home_country)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--home-country") from None


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(payload).decode() + "\n")


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()[:3])
    return str(exc) or type(exc).__name__


def _run(handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Apply `handle` to every non-blank stdin line; a bad line becomes {"line", "error"} and the run goes on."""
    for number, line in _lines():
        record: Any = None
        try:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            _emit({"line": number, **handle(record)})
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            error: dict[str, Any] = {"line": number, "error": _short(exc)}
            if isinstance(record, dict) and "id" in record:
                error["id"] = record["id"]
            _emit(error)
        except Exception as exc:  # one unexpected input must not cost the rest of the batch
            _emit({"line": number, "error": f"internal error: {type(exc).__name__}: {exc}"})
        sys.stdout.flush()


def _lines() -> Iterator[tuple[int, str]]:
    for number, line in enumerate(sys.stdin, start=1):
        if line.strip():
            yield number, line


@app.command("region")
def region_command(home_country: HomeCountry = "CN") -> None:
    """Each line: {"ip", "registered_region", "phone", "text", "id"?} → region, country, confidence, factors."""
    config = _config(home_country)

    def handle(record: dict[str, Any]) -> dict[str, Any]:
        request = RegionRequest.model_validate(record)
        result = detect_region(
            ip=request.ip,
            registered_region=request.registered_region,
            phone=None if request.phone is None else str(request.phone),
            text=request.text,
            config=config,
        )
        head = {"id": request.id} if request.id is not None else {}
        return head | result.model_dump(mode="json")

    _run(handle)


@app.command("priority")
def priority_command(
    home_country: HomeCountry = "CN",
    business_hours: Annotated[
        bool, typer.Option(help="Count only Mon–Fri 09:00–18:00 local time (a line's business_hours overrides).")
    ] = False,
    holiday: Annotated[list[str] | None, typer.Option(help="A non-working date (YYYY-MM-DD); repeatable.")] = None,
    now: Annotated[str | None, typer.Option(help="ISO time for lines without created_at (default: now).")] = None,
) -> None:
    """Each line: severity, region (or ip/phone/… to detect it), affected_users, business_impact, is_regression,
    created_at, stage → score, level, contributions and SLA due times on the region's clock."""
    config = _config(home_country)
    sla_config = SlaConfig()
    try:
        holidays = frozenset(date.fromisoformat(day) for day in holiday or [])
        default_start = datetime.fromisoformat(now) if now else datetime.now(UTC)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if default_start.tzinfo is None:
        raise typer.BadParameter("--now needs a UTC offset, e.g. 2024-05-01T09:00:00+08:00", param_hint="--now")

    def handle(record: dict[str, Any]) -> dict[str, Any]:
        request = PriorityRequest.model_validate(record)
        out: dict[str, Any] = {"id": request.id} if request.id is not None else {}
        region = request.region
        if region is None:
            detected = detect_region(
                ip=request.ip,
                registered_region=request.registered_region,
                phone=None if request.phone is None else str(request.phone),
                text=request.text,
                config=config,
            )
            region = detected.region
            out["region_detection"] = {"country": detected.country, "confidence": detected.confidence}
        result = assess_priority(
            PriorityInput(
                severity=request.severity,
                region=region,
                affected_users=request.affected_users,
                business_impact=request.business_impact,
                is_regression=request.is_regression,
                data_loss=request.data_loss,
                security_issue=request.security_issue,
            )
        )
        use_hours = business_hours if request.business_hours is None else request.business_hours
        calendar = BusinessCalendar(holidays=holidays | set(request.holidays)) if use_hours else None
        target = sla_targets(
            result.level,
            request.stage,
            sla_config,
            start=request.created_at or default_start,
            tz=config.timezone_for(region),
            calendar=calendar,
            pauses=request.pauses,
        )
        return out | {
            "region": region,
            "score": result.score,
            "level": result.level,
            "floor": result.floor,
            "contributions": [c.model_dump() for c in result.contributions],
            "sla": {
                "timezone": target.timezone,
                "business_hours": calendar is not None,
                "response_due": target.response_due.isoformat(),
                "resolution_due": target.resolution_due.isoformat(),
                "stage": target.stage,
                "stage_due": target.stage_due.isoformat(),
            },
        }

    _run(handle)


if __name__ == "__main__":
    app()

"""Shared schema pieces: e-mail addresses, pagination."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator


def normalize_email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return checked.normalized.lower()


SearchText = Annotated[str, StringConstraints(max_length=100, pattern=r"^[^\x00]*$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(normalize_email)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Letters, digits, `_`, `.` and `-`, starting with a letter or digit; never an `@`, so a login names either
# an e-mail address or a username. Stored lower-cased: unique regardless of case.
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=3, max_length=50, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    ),
]


def _reject_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
    elif isinstance(value, list | tuple | set):
        for item in value:
            _reject_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    return value


class Schema(BaseModel):
    """Base of every request and response schema. PostgreSQL text cannot hold NUL, so it is refused
    here, naming the field, instead of failing in the database."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        return _reject_nul(value)


T = TypeVar("T")

# Offsets past this are refused with 422 rather than overflowing PostgreSQL's bigint.
MAX_OFFSET = 1_000_000_000


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

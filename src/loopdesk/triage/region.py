"""Domestic vs international detection (seed §3.1): IP geolocation > registered region > phone prefix > text language.

Each usable signal votes for one side with its configured weight; ignored signals stay in `factors` with a note.
`confidence` is the winner's lead over the loser as a share of all configured weight, so one IP alone gives 0.5
with the seed weights, every signal agreeing gives 1.0 and evenly conflicting signals give about 0.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import iptocc
import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from lingua import LanguageDetector

Region = Literal["domestic", "international", "unknown"]
Side = Literal["domestic", "international"]
Source = Literal["ip", "registered_region", "phone", "language"]

# Languages whose speakers are mostly in the given home country; used when `home_languages` is not set.
HOME_LANGUAGES: dict[str, tuple[str, ...]] = {
    "CN": ("zh",), "TW": ("zh",), "HK": ("zh",), "SG": ("zh", "en"), "JP": ("ja",), "KR": ("ko",),
    "US": ("en",), "GB": ("en",), "CA": ("en", "fr"), "AU": ("en",), "NZ": ("en",), "IE": ("en",), "IN": ("en",),
    "DE": ("de",), "AT": ("de",), "CH": ("de", "fr"), "FR": ("fr",), "BE": ("fr",), "ES": ("es",), "MX": ("es",),
    "AR": ("es",), "CO": ("es",), "CL": ("es",), "RU": ("ru",), "BR": ("pt",), "PT": ("pt",), "SA": ("ar",),
    "AE": ("ar",), "EG": ("ar",),
}  # fmt: skip
# A foreign language names a country only when it is spoken mostly in one; "en" or "es" name none.
LANGUAGE_COUNTRY: dict[str, str] = {"zh": "CN", "ja": "JP", "ko": "KR"}
HOME_TIMEZONES: dict[str, str] = {"CN": "Asia/Shanghai"}

# Names people type into a "country" field, English and Chinese, plus alpha-3 codes; alpha-2 codes need no entry.
_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "CN": ("china", "prc", "chn", "mainland china", "people's republic of china", "中国", "中国大陆", "中华人民共和国"),
    "HK": ("hong kong", "hkg", "中国香港", "香港"),
    "MO": ("macau", "macao", "mac", "中国澳门", "澳门"),
    "TW": ("taiwan", "twn", "中国台湾", "台湾"),
    "US": ("united states", "united states of america", "usa", "america", "美国"),
    "GB": ("united kingdom", "uk", "great britain", "britain", "england", "gbr", "英国"),
    "JP": ("japan", "jpn", "日本"),
    "KR": ("south korea", "korea", "republic of korea", "kor", "韩国", "한국"),
    "SG": ("singapore", "sgp", "新加坡"),
    "DE": ("germany", "deu", "deutschland", "德国"),
    "FR": ("france", "fra", "法国"),
    "ES": ("spain", "esp", "españa", "西班牙"),
    "IT": ("italy", "ita", "意大利"),
    "RU": ("russia", "russian federation", "rus", "россия", "俄罗斯"),
    "CA": ("canada", "can", "加拿大"),
    "AU": ("australia", "aus", "澳大利亚"),
    "IN": ("india", "ind", "印度"),
    "BR": ("brazil", "bra", "brasil", "巴西"),
    "MX": ("mexico", "mex", "méxico", "墨西哥"),
    "MY": ("malaysia", "mys", "马来西亚"),
    "TH": ("thailand", "tha", "泰国"),
    "VN": ("vietnam", "viet nam", "vnm", "越南"),
    "ID": ("indonesia", "idn", "印度尼西亚", "印尼"),
    "PH": ("philippines", "phl", "菲律宾"),
    "AE": ("united arab emirates", "uae", "are", "阿联酋"),
    "SA": ("saudi arabia", "sau", "沙特阿拉伯", "沙特"),
    "NL": ("netherlands", "nld", "holland", "荷兰"),
    "CH": ("switzerland", "che", "瑞士"),
    "NZ": ("new zealand", "nzl", "新西兰"),
    "IE": ("ireland", "irl", "爱尔兰"),
}
_NAME_INDEX: dict[str, str] = {name: code for code, names in _COUNTRY_NAMES.items() for name in names}
_MAX_TEXT_CHARS = 2000  # language identification settles long before this; keeps per-item cost flat
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no or unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_PHONE_INVALID_FACTOR = 0.5  # a possible-but-invalid number still names its country calling code


class RegionWeights(BaseModel):
    """Votes per signal; the defaults are the seed's 0.5 / 0.3 / 0.15, language gets the remaining 0.05."""

    model_config = ConfigDict(frozen=True)

    ip: float = Field(0.5, ge=0)
    registered_region: float = Field(0.3, ge=0)
    phone: float = Field(0.15, ge=0)
    language: float = Field(0.05, ge=0)

    def total(self) -> float:
        return self.ip + self.registered_region + self.phone + self.language


class RegionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    home_country: str = "CN"
    weights: RegionWeights = RegionWeights()
    # Languages that count as "home"; None → HOME_LANGUAGES[home_country] (no entry: the language signal is skipped).
    home_languages: tuple[str, ...] | None = None
    detect_languages: tuple[str, ...] = ("en", "zh", "ja", "ko", "es", "fr", "de", "ru", "pt", "ar")
    min_language_confidence: float = Field(0.5, ge=0, le=1)
    # Region used to read national-format phone numbers; None → home_country.
    phone_default_region: str | None = None
    # None → HOME_TIMEZONES[home_country], else UTC.
    domestic_timezone: str | None = None
    international_timezone: str = "UTC"

    @field_validator("home_country", "phone_default_region")
    @classmethod
    def _alpha2(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().upper()
        if len(code) != 2 or not code.isalpha():
            raise ValueError(f"expected an ISO 3166-1 alpha-2 code, got {value!r}")
        return code

    @field_validator("home_languages", "detect_languages")
    @classmethod
    def _iso639(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(code.strip().lower() for code in value)

    @field_validator("domestic_timezone", "international_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def resolved_home_languages(self) -> tuple[str, ...]:
        if self.home_languages is not None:
            return self.home_languages
        return HOME_LANGUAGES.get(self.home_country, ())

    def timezone_for(self, region: Region) -> str:
        if region == "domestic":
            return self.domestic_timezone or HOME_TIMEZONES.get(self.home_country, "UTC")
        return self.international_timezone


class Factor(BaseModel):
    """One signal: `vote` is None and `weight` 0 when it was ignored; `note` says why or what was read."""

    source: Source
    value: str
    country: str | None = None
    vote: Side | None = None
    weight: float = 0.0
    note: str = ""


class RegionResult(BaseModel):
    region: Region
    country: str | None = None
    confidence: float = Field(ge=0, le=1)
    factors: list[Factor]
    timezone: str


def detect_region(
    *,
    ip: str | None = None,
    registered_region: str | None = None,
    phone: str | None = None,
    text: str | None = None,
    config: RegionConfig = RegionConfig(),
) -> RegionResult:
    factors: list[Factor] = []
    if ip is not None and str(ip).strip():
        factors.append(_ip_factor(str(ip).strip(), config))
    if registered_region is not None and str(registered_region).strip():
        factors.append(_registered_factor(str(registered_region).strip(), config))
    if phone is not None and str(phone).strip():
        factors.append(_phone_factor(str(phone).strip(), config))
    if text is not None and str(text).strip():
        factors.append(_language_factor(str(text), config))
    return _decide(factors, config)


def _vote(country: str, config: RegionConfig) -> Side:
    return "domestic" if country == config.home_country else "international"


def _ip_factor(raw: str, config: RegionConfig) -> Factor:
    weight = config.weights.ip
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return Factor(source="ip", value=raw[:64], note="not an IP address; ignored")
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_multicast or not addr.is_global:
        kinds = ("loopback", "link_local", "multicast", "private", "reserved")
        kind = next((name for name in kinds if getattr(addr, f"is_{name}")), "non-global")
        return Factor(source="ip", value=str(addr), note=f"{kind.replace('_', '-')} address has no location; ignored")
    country = iptocc.country_code(str(addr))
    if country is None:
        return Factor(source="ip", value=str(addr), note="address not in the IP-to-country table; ignored")
    return Factor(source="ip", value=str(addr), country=country, vote=_vote(country, config), weight=weight)


def country_from_name(value: str) -> str | None:
    """An ISO alpha-2 code for a code ("cn"), alpha-3 ("CHN") or common English/Chinese name ("China", "中国")."""
    cleaned = " ".join(value.replace("_", " ").split()).casefold()
    if len(cleaned) == 2 and cleaned.isascii() and cleaned.upper() in phonenumbers.SUPPORTED_REGIONS:
        return cleaned.upper()
    return _NAME_INDEX.get(cleaned)


def _registered_factor(raw: str, config: RegionConfig) -> Factor:
    country = country_from_name(raw)
    if country is None:
        return Factor(source="registered_region", value=raw[:64], note="unrecognised country; ignored")
    return Factor(
        source="registered_region",
        value=raw[:64],
        country=country,
        vote=_vote(country, config),
        weight=config.weights.registered_region,
    )


def _mask_phone(number: phonenumbers.PhoneNumber) -> str:
    # Phone numbers are personal data: keep the calling code and last 4 digits, enough to explain the vote.
    national = str(number.national_number)
    return f"+{number.country_code} …{national[-4:]}" if len(national) > 4 else f"+{number.country_code} …"


def _phone_factor(raw: str, config: RegionConfig) -> Factor:
    try:
        number = phonenumbers.parse(raw, config.phone_default_region or config.home_country)
    except phonenumbers.NumberParseException as exc:
        reason = _PARSE_ERRORS.get(exc.error_type, "unreadable")
        return Factor(source="phone", value="…", note=f"malformed phone number ({reason}); ignored")
    shown = _mask_phone(number)
    if not phonenumbers.is_possible_number(number):
        return Factor(source="phone", value=shown, note="not a possible phone number; ignored")
    weight = config.weights.phone
    if phonenumbers.is_valid_number(number):
        country = phonenumbers.region_code_for_number(number)
        note = ""
    else:
        country = phonenumbers.region_code_for_country_code(number.country_code)
        weight *= _PHONE_INVALID_FACTOR
        note = f"not a valid number; country from calling code +{number.country_code}, half weight"
    if not country or country == phonenumbers.UNKNOWN_REGION or country == "001":
        return Factor(source="phone", value=shown, note="non-geographic phone number; ignored")
    return Factor(source="phone", value=shown, country=country, vote=_vote(country, config), weight=weight, note=note)


@lru_cache(maxsize=4)
def _detector(codes: tuple[str, ...]) -> LanguageDetector:
    # Imported and built on first use only: a restricted language set keeps the models at ~150 MB.
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = []
    for code in codes:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None:
            raise ValueError(f"lingua does not know the language code {code!r}")
        languages.append(Language.from_iso_code_639_1(iso))
    if len(languages) < 2:
        raise ValueError("detect_languages needs at least two languages")
    return LanguageDetectorBuilder.from_languages(*languages).build()


def detect_language(text: str, codes: tuple[str, ...]) -> tuple[str | None, float]:
    """The most likely ISO 639-1 code among `codes` and its confidence (None, 0.0 when the text has no letters)."""
    values = _detector(tuple(sorted(codes))).compute_language_confidence_values(text[:_MAX_TEXT_CHARS])
    if not values or values[0].value <= 0:
        return None, 0.0
    return values[0].language.iso_code_639_1.name.lower(), values[0].value


def _language_factor(text: str, config: RegionConfig) -> Factor:
    preview = " ".join(text.split())[:40]
    home_languages = config.resolved_home_languages()
    if not home_languages:
        return Factor(
            source="language", value=preview, note=f"no home language known for {config.home_country}; ignored"
        )
    language, confidence = detect_language(text, config.detect_languages)
    if language is None:
        return Factor(source="language", value=preview, note="no language detected; ignored")
    if confidence < config.min_language_confidence:
        return Factor(
            source="language",
            value=preview,
            note=f"{language} at confidence {confidence:.2f} is below {config.min_language_confidence}; ignored",
        )
    domestic = language in home_languages
    return Factor(
        source="language",
        value=preview,
        country=config.home_country if domestic else LANGUAGE_COUNTRY.get(language),
        vote="domestic" if domestic else "international",
        weight=round(config.weights.language * confidence, 4),
        note=f"language {language} (confidence {confidence:.2f})",
    )


def _decide(factors: list[Factor], config: RegionConfig) -> RegionResult:
    scores: dict[Side, float] = {"domestic": 0.0, "international": 0.0}
    for factor in factors:
        if factor.vote is not None:
            scores[factor.vote] += factor.weight
    if scores["domestic"] + scores["international"] <= 0:
        return RegionResult(region="unknown", confidence=0.0, factors=factors, timezone=config.timezone_for("unknown"))
    if scores["domestic"] != scores["international"]:
        region: Side = "domestic" if scores["domestic"] > scores["international"] else "international"
    else:
        # A tie goes to the single heaviest signal, i.e. the seed's priority order for the default weights.
        region = max((f for f in factors if f.vote is not None), key=lambda f: f.weight).vote or "international"
    loser: Side = "international" if region == "domestic" else "domestic"
    total = config.weights.total()
    confidence = min(1.0, max(0.0, (scores[region] - scores[loser]) / total)) if total > 0 else 0.0
    return RegionResult(
        region=region,
        country=_best_country(factors, region, config),
        confidence=round(confidence, 3),
        factors=factors,
        timezone=config.timezone_for(region),
    )


def _best_country(factors: list[Factor], region: Side, config: RegionConfig) -> str | None:
    if region == "domestic":
        return config.home_country
    by_country: dict[str, float] = {}
    for factor in factors:
        if factor.vote == region and factor.country:
            by_country[factor.country] = by_country.get(factor.country, 0.0) + factor.weight
    return max(by_country, key=lambda code: by_country[code]) if by_country else None

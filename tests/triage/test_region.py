from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from loopdesk.triage.cli_region import app
from loopdesk.triage.region import RegionConfig, RegionWeights, country_from_name, detect_region

CN_IP, US_IP, JP_IP = "1.2.4.8", "8.8.8.8", "133.242.0.1"
CN_PHONE, US_PHONE = "+86 138 0013 8000", "+1 650 253 0000"
ZH_TEXT = "登录以后页面一直白屏，刷新也没有用"
EN_TEXT = "The app crashes every time I try to log in to my account"
JA_TEXT = "ログインするとアプリがクラッシュしてしまいます"


@pytest.mark.parametrize(
    ("kwargs", "region", "country", "confidence"),
    [
        ({"ip": CN_IP}, "domestic", "CN", 0.5),
        ({"ip": US_IP}, "international", "US", 0.5),
        ({"ip": "2400:da00::6666"}, "domestic", "CN", 0.5),
        ({"ip": "::ffff:8.8.8.8"}, "international", "US", 0.5),
        ({"registered_region": "CN"}, "domestic", "CN", 0.3),
        ({"registered_region": "中国"}, "domestic", "CN", 0.3),
        ({"registered_region": " china "}, "domestic", "CN", 0.3),
        ({"registered_region": "Japan"}, "international", "JP", 0.3),
        ({"registered_region": "de"}, "international", "DE", 0.3),
        ({"phone": CN_PHONE}, "domestic", "CN", 0.15),
        ({"phone": "13800138000"}, "domestic", "CN", 0.15),  # national format, read as a home-country number
        ({"phone": "0086 138 0013 8000"}, "domestic", "CN", 0.15),
        ({"phone": US_PHONE}, "international", "US", 0.15),
        ({"phone": "+81 3-1234-5678"}, "international", "JP", 0.15),
        ({"text": ZH_TEXT}, "domestic", "CN", 0.05),
        ({"text": JA_TEXT}, "international", "JP", 0.05),
    ],
)
def test_each_signal_alone_decides_with_its_weight(kwargs, region, country, confidence):
    result = detect_region(**kwargs)
    assert (result.region, result.country) == (region, country)
    assert result.confidence == pytest.approx(confidence, abs=0.01)
    assert len(result.factors) == 1 and result.factors[0].vote == region


def test_english_text_alone_is_international_without_a_country_guess():
    result = detect_region(text=EN_TEXT)
    assert result.region == "international"
    assert result.country is None
    assert result.factors[0].note.startswith("language en")
    assert 0 < result.confidence <= 0.05


def test_domestic_uses_beijing_time_and_international_uses_utc():
    assert detect_region(ip=CN_IP).timezone == "Asia/Shanghai"
    assert detect_region(ip=US_IP).timezone == "UTC"
    assert detect_region().timezone == "UTC"


def test_all_signals_agreeing_give_full_confidence():
    result = detect_region(ip=CN_IP, registered_region="CN", phone=CN_PHONE, text=ZH_TEXT)
    assert result.region == "domestic"
    assert result.confidence == pytest.approx(1.0, abs=0.001)
    assert [f.source for f in result.factors] == ["ip", "registered_region", "phone", "language"]


@pytest.mark.parametrize(
    ("kwargs", "weights", "region"),
    [
        # IP outweighs registered region + phone (0.5 > 0.45): the seed's priority order.
        ({"ip": US_IP, "registered_region": "CN", "phone": CN_PHONE}, RegionWeights(), "international"),
        # 0.5 against 0.3 + 0.15 + 0.05: a tie goes to the heaviest single signal, the IP.
        (
            {"ip": US_IP, "registered_region": "CN", "phone": CN_PHONE, "text": ZH_TEXT},
            RegionWeights(),
            "international",
        ),
        ({"ip": CN_IP, "registered_region": "US", "phone": US_PHONE}, RegionWeights(), "domestic"),
        ({"registered_region": "CN", "phone": US_PHONE, "text": EN_TEXT}, RegionWeights(), "domestic"),
        # Reweighted so the registered region dominates.
        ({"ip": US_IP, "registered_region": "CN"}, RegionWeights(ip=0.2, registered_region=0.6), "domestic"),
        ({"ip": US_IP, "phone": CN_PHONE}, RegionWeights(ip=0.0), "domestic"),
    ],
)
def test_conflicting_signals_are_settled_by_the_weights(kwargs, weights, region):
    result = detect_region(**kwargs, config=RegionConfig(weights=weights))
    assert result.region == region
    assert result.confidence < 0.5


def test_conflict_lowers_confidence_compared_with_agreement():
    agreeing = detect_region(ip=CN_IP, registered_region="CN")
    conflicting = detect_region(ip=CN_IP, registered_region="US")
    assert agreeing.confidence == pytest.approx(0.8)
    assert conflicting.confidence == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.1.10", "private"),
        ("172.16.5.4", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-global"),
        ("not-an-ip", "not an IP"),
        ("999.1.1.1", "not an IP"),
    ],
)
def test_unusable_ips_are_ignored_with_a_note(ip, kind):
    alone = detect_region(ip=ip)
    assert alone.region == "unknown" and alone.country is None and alone.confidence == 0
    assert alone.factors[0].weight == 0 and alone.factors[0].vote is None
    assert kind in alone.factors[0].note and "ignored" in alone.factors[0].note
    # The remaining signals still decide.
    assert detect_region(ip=ip, phone=CN_PHONE).region == "domestic"


@pytest.mark.parametrize(
    ("phone", "note"),
    [
        ("abc", "malformed"),
        ("12", "not a possible"),
        ("+999 1234 5678", "malformed"),
        ("+800 1234 5678", "non-geographic"),
    ],
)
def test_malformed_phones_are_ignored_with_a_note(phone, note):
    result = detect_region(phone=phone)
    assert result.region == "unknown"
    assert note in result.factors[0].note and result.factors[0].weight == 0


def test_invalid_but_possible_phone_counts_its_calling_code_at_half_weight():
    factor = detect_region(phone="+1 555 0100 000").factors[0]
    assert (factor.country, factor.vote) == ("US", "international")
    assert factor.weight == pytest.approx(0.075)
    assert "half weight" in factor.note


def test_phone_numbers_are_masked_in_factors():
    factor = detect_region(phone=CN_PHONE).factors[0]
    assert factor.value == "+86 …8000"
    assert "13800138000" not in factor.model_dump_json()


def test_unrecognised_registered_region_is_ignored():
    result = detect_region(registered_region="Atlantis", ip=US_IP)
    assert result.factors[1].note == "unrecognised country; ignored"
    assert result.region == "international"


@pytest.mark.parametrize("text", ["ok", "12345 !!!", "   "])
def test_text_without_a_clear_language_is_ignored(text):
    result = detect_region(text=text)
    assert result.region == "unknown"
    assert all(f.weight == 0 for f in result.factors)


def test_no_signals_give_unknown():
    result = detect_region()
    assert (result.region, result.country, result.confidence, result.factors) == ("unknown", None, 0.0, [])


@pytest.mark.parametrize(
    ("kwargs", "region", "country"),
    [
        ({"ip": US_IP}, "domestic", "US"),
        ({"ip": CN_IP}, "international", "CN"),
        ({"registered_region": "United States"}, "domestic", "US"),
        ({"phone": "(650) 253-0000"}, "domestic", "US"),  # national format now read as a US number
        ({"text": EN_TEXT}, "domestic", "US"),
        ({"text": ZH_TEXT}, "international", "CN"),
        ({"ip": JP_IP, "text": EN_TEXT}, "international", "JP"),
    ],
)
def test_home_country_can_be_changed(kwargs, region, country):
    config = RegionConfig(home_country="us", domestic_timezone="America/New_York")
    result = detect_region(**kwargs, config=config)
    assert (result.region, result.country) == (region, country)
    assert result.timezone == ("America/New_York" if region == "domestic" else "UTC")


def test_home_country_without_known_language_skips_the_language_signal():
    result = detect_region(text=EN_TEXT, config=RegionConfig(home_country="KE"))
    assert result.region == "unknown"
    assert "no home language known for KE" in result.factors[0].note


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("cn", "CN"),
        ("CHN", "CN"),
        ("中华人民共和国", "CN"),
        ("United  Kingdom", "GB"),
        ("uk", "GB"),
        ("zz", None),
        ("", None),
    ],
)
def test_country_names_codes_and_aliases_resolve(value, code):
    assert country_from_name(value) == code


@pytest.mark.parametrize(
    "kwargs",
    [{"home_country": "China"}, {"domestic_timezone": "Mars/Olympus"}, {"weights": {"ip": -1}}],
)
def test_invalid_config_is_rejected(kwargs):
    with pytest.raises(ValidationError):
        RegionConfig(**kwargs)


def test_cli_region_answers_each_line_and_reports_bad_lines():
    lines = [
        {"id": 1, "ip": CN_IP, "text": ZH_TEXT},
        "not json",
        [1, 2],
        {"id": "x", "ip": 5},
        {"phone": 8613800138000},
        {"ip": "192.168.0.1"},
    ]
    stdin = "\n".join(line if isinstance(line, str) else orjson.dumps(line).decode() for line in lines) + "\n\n"
    result = CliRunner().invoke(app, ["region"], input=stdin)
    assert result.exit_code == 0, result.output
    out = [orjson.loads(line) for line in result.output.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 6]
    assert (out[0]["id"], out[0]["region"], out[0]["timezone"]) == (1, "domestic", "Asia/Shanghai")
    assert out[1]["error"].startswith("invalid JSON")
    assert out[2]["error"] == "expected a JSON object"
    assert out[3]["id"] == "x" and out[3]["error"].startswith("ip:")
    assert out[4]["region"] == "domestic"
    assert out[5]["region"] == "unknown" and "ignored" in out[5]["factors"][0]["note"]


def test_cli_region_rejects_a_bad_home_country():
    result = CliRunner().invoke(app, ["region", "--home-country", "China"], input="")
    assert result.exit_code == 2

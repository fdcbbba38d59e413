from __future__ import annotations

import pytest

from loopdesk.triage.dedup.text import NoText, clean, prepare, script_of, text_hash


class TestPrepare:
    def test_control_characters_and_runs_of_space_are_removed(self) -> None:
        assert clean("  a\x00b\x07\r\n\n c\t ") == "a b c"

    def test_lone_surrogates_and_bytes_are_made_valid(self) -> None:
        assert clean("x\ud800y") == "x?y"
        assert clean(b"caf\xc3\xa9 \xff") == "café \ufffd"

    @pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "!!! ??? ...", "\ufffd\ufffd"])
    def test_text_without_letters_or_digits_is_refused(self, text: str) -> None:
        with pytest.raises(NoText):
            prepare(text, max_chars=100)

    def test_long_text_is_cut_but_hashed_whole(self) -> None:
        long = "word " * 200_000
        prepared = prepare(long, max_chars=1000)
        assert len(prepared.text) == 1000
        assert prepared.text_hash != prepare(long + "tail", max_chars=1000).text_hash

    def test_hash_ignores_case_width_and_spacing(self) -> None:
        assert text_hash(clean("Dark  MODE please")) == text_hash(clean("dark mode PLEASE"))
        assert text_hash("ＣＳＶ导出") == text_hash("csv导出")


class TestScript:
    @pytest.mark.parametrize(
        ("text", "script"),
        [
            ("Please add dark mode", "latin"),
            ("希望增加夜间模式", "cjk"),
            ("希望支持CSV导出", "cjk"),
            ("App 闪退 when uploading", "latin"),
        ],
    )
    def test_script_follows_the_majority_of_letters(self, text: str, script: str) -> None:
        assert script_of(text) == script

"""Language of an item: a script count decides CJK, Cyrillic etc. at once; lingua (restricted) picks Latin ones.

lingua is built in low-accuracy mode over nine languages: ~27 MB and ~0.05 ms per text, where the high-accuracy
models of the Latin languages cost ~40 MB each.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

LINGUA_LANGUAGES = ("en", "zh", "ja", "ko", "de", "fr", "es", "pt", "ru")
UNKNOWN = "unknown"
_MAX_CHARS = 600
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_NON_ASCII_LATIN = re.compile(r"[\u00c0-\u024f]")
# Code, URLs and paths are Latin letters in every language: left out before counting scripts.
_NOISE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`|https?://\S+|[^\s/\\_.]*[/\\_.]\S*", re.S)


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LINGUA_LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's main language, or "unknown" when it has no letters to go on."""
    sample = _NOISE.sub(" ", text[:_MAX_CHARS])
    han, kana, hangul = len(_HAN.findall(sample)), len(_KANA.findall(sample)), len(_HANGUL.findall(sample))
    latin = len(_LATIN.findall(sample))
    # One CJK character carries about a word: weigh it against Latin letters accordingly.
    cjk = 3 * (han + kana + hangul)
    if cjk and cjk >= latin * 0.3:
        if hangul > (han + kana) / 4:
            return "ko"
        return "ja" if kana > han / 10 else "zh"
    cyrillic = len(_CYRILLIC.findall(sample))
    if cyrillic > latin:
        return "ru"
    if latin < 3:
        return "zh" if han else UNKNOWN
    if not _NON_ASCII_LATIN.search(sample) and latin < 40:
        return "en"  # short ASCII-only text: the low-accuracy models guess too freely between Latin languages
    found = _detector().detect_language_of(sample)
    return found.iso_code_639_1.name.lower() if found is not None else UNKNOWN

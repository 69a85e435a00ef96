"""The reader-visible strings in every language (convert/document/labels.toml) and the seeds written in them."""

from __future__ import annotations

import dataclasses
import string
import tomllib
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convert.document.labels import LABEL_KEYS, LABEL_LANGUAGES, label_language, labels, long_date, titles_count
from convert.document.seed import read_seed

ROOT = Path(__file__).resolve().parent.parent
LABELS_TOML = ROOT / "convert" / "document" / "labels.toml"
LANGUAGES = Path(__file__).resolve().parent / "data" / "languages"
FIXTURES = sorted(LANGUAGES.glob("*.txt"))
MOMENT = datetime(2026, 11, 28, 3, 14, tzinfo=UTC)
ENGLISH_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)
RIGHT_TO_LEFT = ("ar", "he", "fa")
#: Characters written differently in simplified and traditional Chinese.
SIMPLIFIED_TRADITIONAL = (
    "这這 发發 国國 时時 开開 书書 说說 来來 为為 会會 们們 车車 铁鐵 线線 县縣 图圖 馆館 "
    "与與 区區 长長 过過 让讓 对對 于於 业業 产產 规規 众眾 见見 运運 营營 当當 间間 动動 "
    "带帶 农農 历歷 难難 质質 条條 杂雜 从從 将將 远遠 节節 几幾 现現 实實 样樣 数數 读讀 讲講"
).split()


@pytest.fixture(scope="module")
def table():
    return tomllib.loads(LABELS_TOML.read_text("utf-8"))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- labels.toml ---------------------------------------------------------------------

def test_the_file_has_english_and_a_table_for_every_fixture_language(table):
    fixture_languages = {path.stem for path in FIXTURES} - {"mixed"}
    assert set(table) == LABEL_LANGUAGES == fixture_languages | {"en"}


def test_every_language_has_every_key_and_no_other(table):
    for language, strings in table.items():
        assert set(strings) == set(LABEL_KEYS), language


def test_no_value_is_empty(table):
    for language, strings in table.items():
        for key, value in strings.items():
            assert isinstance(value, str) and value.strip(), f"{language}.{key}"


def test_placeholders_survive_every_translation(table):
    english = table["en"]
    assert placeholders(english["cover_alt"]) == {"title"}
    assert placeholders(english["titles"]) == placeholders(english["title_one"]) == {"count"}
    assert placeholders(english["updated"]) == {"date"}
    for language, strings in table.items():
        for key, value in strings.items():
            assert placeholders(value) == placeholders(english[key]), f"{language}.{key}"


def test_every_translation_formats():
    for language in LABEL_LANGUAGES:
        words = labels(language)
        assert "Title" in words.cover_alt.format(title="Title")
        assert "7" in words.titles.format(count=7)
        assert "1" in words.title_one.format(count=1)
        assert "2026" in words.updated.format(date=long_date(MOMENT, language))


def test_english_is_todays_wording():
    english = labels("en")
    assert english.language == "en"
    assert english.summary_heading == "Summary of the original article"
    assert english.commentary_heading == "Commentary"
    assert english.no_commentary == "No commentary was appended to this summary."
    assert english.source_text == "Source text"
    assert english.kicker == "Archived article · summary and commentary"
    assert english.cover_kicker == "ARCHIVED ARTICLE"
    assert english.cover_subtitle == "Summary of the original article and commentary"
    assert english.cover_footer == "seedpress archive"
    assert english.cover_alt.format(title="T") == "Cover: T"
    assert english.titles.format(count=3) == "3 titles"
    assert english.title_one.format(count=1) == "1 title"
    assert english.updated.format(date="28 November 2026") == "updated 28 November 2026"


def test_translations_differ_from_english_and_keep_seedpress_untranslated():
    english = labels("en")
    for language in LABEL_LANGUAGES - {"en"}:
        words = labels(language)
        assert words.summary_heading != english.summary_heading, language
        assert words.commentary_heading != english.commentary_heading, language
        assert "seedpress" in words.cover_footer, language


@pytest.mark.parametrize("language", RIGHT_TO_LEFT)
def test_right_to_left_labels_are_right_to_left_text(language):
    words = labels(language)
    for key in ("summary_heading", "commentary_heading", "no_commentary", "cover", "contents"):
        strong = [unicodedata.bidirectional(c) for c in getattr(words, key)
                  if unicodedata.bidirectional(c) in ("L", "R", "AL")]
        assert strong and set(strong) <= {"R", "AL"}, f"{language}.{key}"


def test_labels_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        labels("fr").summary_heading = "changed"  # type: ignore[misc]


def test_french_and_japanese_headings():
    assert labels("fr").summary_heading == "Résumé de l'article original"
    assert labels("fr").commentary_heading == "Commentaire"
    assert labels("ja").summary_heading == "元記事の要約"
    assert labels("ja").commentary_heading == "論評"


# --- label_language ------------------------------------------------------------------

@pytest.mark.parametrize(("tag", "expected"), [
    ("fr", "fr"), ("FR", "fr"), ("fr-CA", "fr"), ("fr_CA", "fr"),
    ("pt-BR", "pt"), ("pt-PT", "pt"), ("de-AT", "de"), ("en-US", "en"),
    ("zh-Hans", "zh-Hans"), ("zh-hans", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"),
    ("zh-CN", "zh-Hans"), ("zh-SG", "zh-Hans"), ("zh", "zh-Hans"),
    ("zh-Hant", "zh-Hant"), ("ZH-HANT", "zh-Hant"), ("zh-Hant-TW", "zh-Hant"),
    ("zh-TW", "zh-Hant"), ("zh-HK", "zh-Hant"), ("zh-MO", "zh-Hant"), ("zh-Hans-HK", "zh-Hans"),
    ("iw", "he"), ("ja-JP", "ja"), ("ar-EG", "ar"), ("fa-IR", "fa"),
    ("und", "en"), ("", "en"), ("   ", "en"), ("x-private", "en"), ("i-klingon", "en"),
    ("ca", "en"), ("sr-Latn-RS", "en"), ("de-u-co-phonebk", "de"), ("-", "en"),
])
def test_label_language_falls_back_to_the_closest_table(tag, expected):
    assert label_language(tag) == expected
    assert labels(tag).language == expected


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_any_tag_gets_labels_and_a_date(tag):
    assert label_language(tag) in LABEL_LANGUAGES
    assert "2026" in long_date(MOMENT, tag)


# --- long_date -----------------------------------------------------------------------

def test_english_date_is_day_month_year():
    assert long_date(MOMENT, "en") == "28 November 2026"
    assert long_date(MOMENT, "en-US") == "28 November 2026"
    assert long_date(MOMENT, "und") == "28 November 2026"


@pytest.mark.parametrize(("tag", "expected"), [
    ("fr", "28 novembre 2026"),
    ("ja", "2026年11月28日"),
    ("zh-Hant", "2026年11月28日"),
    ("zh-TW", "2026年11月28日"),
])
def test_long_date_in_the_language(tag, expected):
    assert long_date(MOMENT, tag) == expected


# Not de or nl: they spell some months as English does ("November").
@pytest.mark.parametrize("tag", ["fr", "ja", "ar", "zh-Hant", "es", "ru", "he", "fa", "hi", "ko"])
def test_long_date_has_the_year_and_no_english_month(tag):
    date = long_date(MOMENT, tag)
    assert "2026" in date or "٢٠٢٦" in date or "۲۰۲۶" in date
    assert not any(month.lower() in date.lower() for month in ENGLISH_MONTHS), date


# --- the seeds in tests/data/languages -------------------------------------------------

def test_there_is_a_seed_for_every_language_and_a_mixed_one():
    names = {path.stem for path in FIXTURES}
    assert "mixed" in names
    assert {"zh-Hans", "zh-Hant", "ar", "he", "fa", "hi", "ja", "ko"} <= names


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
def test_every_seed_parses_into_a_summary_and_a_commentary(path):
    document = read_seed(path)
    assert document.title
    assert document.summary and document.commentary
    assert document.original_article is not None
    assert document.original_article.text == "Read the original article here"
    assert document.original_article.url is None
    assert document.source.encoding == "utf-8"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.stem)
def test_every_seed_is_plain_utf8_with_lf_and_a_final_newline(path):
    data = path.read_bytes()
    data.decode("utf-8")
    assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\n") and not data.endswith(b"\n\n")


def test_simplified_and_traditional_chinese_seeds_are_each_in_one_script():
    simplified = (LANGUAGES / "zh-Hans.txt").read_text("utf-8")
    traditional = (LANGUAGES / "zh-Hant.txt").read_text("utf-8")
    simplified_only = {pair[0] for pair in SIMPLIFIED_TRADITIONAL}
    traditional_only = {pair[1] for pair in SIMPLIFIED_TRADITIONAL}
    assert not traditional_only & set(simplified)
    assert not simplified_only & set(traditional)
    assert {"这", "发", "国"} <= set(simplified)
    assert {"這", "發", "國"} <= set(traditional)


def test_mixed_seed_commentary_is_english_japanese_english_french():
    document = read_seed(LANGUAGES / "mixed.txt")
    english, japanese, english_again, french = document.commentary
    assert not any("a" <= c.lower() <= "z" for c in japanese)
    assert any("\u3040" <= c <= "\u309f" for c in japanese)  # hiragana: Japanese, not Chinese
    assert all(c.isascii() for c in english + english_again)
    assert "économiste" in french and "tourisme" in french


@pytest.mark.parametrize("tag, counts", [
    ("en", ["0 titles", "1 title", "2 titles", "21 titles"]),
    # French says zero in the singular; Russian says 21 as it says 1 (CLDR's rules, by Babel).
    ("fr", ["0 titre", "1 titre", "2 titres", "21 titres"]),
    ("ru", ["Публикаций: 0", "1 публикация", "Публикаций: 2", "21 публикация"]),
    ("pl", ["Liczba tytułów: 0", "1 tytuł", "Liczba tytułów: 2", "Liczba tytułów: 21"]),
])
def test_a_count_of_titles_takes_the_form_the_languages_plural_rule_asks_for(tag, counts):
    assert [titles_count(count, tag) for count in (0, 1, 2, 21)] == counts

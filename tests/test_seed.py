"""The seed reader (DESIGN §1): bytes to a Document, faithfully, or one reason why not."""

from __future__ import annotations

import codecs
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from support.run import DATA, REAL_SEED, seedpress
from support.strategies import seeds

from convert.document.model import NOTICES, OTHER_ENCODING
from convert.document.seed import parse_seed, read_seed
from convert.errors import SeedError

REAL_TITLE = "US Raid Kills Syrian Rebel Leader, Highlighting Complexities of Proxy Conflicts"


# --- the real seed -------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    return read_seed(REAL_SEED)


def test_real_seed_title_is_exact(real):
    assert real.title == REAL_TITLE


def test_real_seed_summary_is_one_paragraph_of_114_words(real):
    assert len(real.summary) == 1
    assert len(real.summary[0].split()) == 114
    assert real.summary[0].startswith("According to family members and Syrian officials")


def test_real_seed_marker_has_no_url(real):
    assert real.original_article is not None
    assert real.original_article.text == "Read the original article here"
    assert real.original_article.url is None


def test_real_seed_commentary_is_ten_paragraphs(real):
    assert len(real.commentary) == 10
    assert real.commentary[0].startswith("US raid allegedly killed")
    assert real.commentary[-1].endswith("they didn’t even get us out!")


def test_real_seed_paragraphs_are_the_files_paragraphs_unchanged(real):
    """Every paragraph is the file's text between blank lines, character for character."""
    blocks = REAL_SEED.read_text("utf-8").split("\n\n")
    assert [real.title, *real.summary, real.original_article.text, *real.commentary] == blocks


def test_real_seed_source_facts(real):
    data = REAL_SEED.read_bytes()
    assert real.source.file == REAL_SEED.name
    assert real.source.sha256 == hashlib.sha256(data).hexdigest()
    assert real.source.bytes == len(data)
    assert real.source.encoding == "utf-8"
    assert real.identifier == f"urn:sha256:{hashlib.sha256(data).hexdigest()}"


def test_golden_copy_of_the_real_seed_is_the_real_seed():
    assert (DATA / REAL_SEED.name).read_bytes() == REAL_SEED.read_bytes()


# --- encodings -----------------------------------------------------------------------

ENCODED_TITLE = "Encodings “work”: café and €"
ENCODED_SUMMARY = ("First summary paragraph, with é and ’ and 😀.",)
ENCODED_COMMENTARY = ("Commentary: naïve — résumé.",)


@pytest.mark.parametrize("name, encoding, first_bytes", [
    ("utf8_bom_crlf", "utf-8-sig", codecs.BOM_UTF8),
    ("utf16le_bom", "utf-16", codecs.BOM_UTF16_LE),
    ("utf16be_bom", "utf-16", codecs.BOM_UTF16_BE),
])
def test_bom_encodings_read_the_same_text(name, encoding, first_bytes):
    path = DATA / f"{name}.txt"
    assert path.read_bytes().startswith(first_bytes)
    document = read_seed(path)
    assert document.source.encoding == encoding
    assert document.title == ENCODED_TITLE
    assert document.summary == ENCODED_SUMMARY
    assert document.commentary == ENCODED_COMMENTARY
    assert document.original_article.url is None
    everything = "".join([document.title, *document.summary, *document.commentary])
    assert "\r" not in everything and "\ufeff" not in everything


LANGUAGES = DATA / "languages"


@pytest.mark.parametrize("language, encoding", [
    ("ru", "cp1251"), ("ru", "koi8_r"), ("uk", "cp1251"), ("ja", "shift_jis"), ("ja", "euc_jp"),
    ("zh-Hans", "gb18030"), ("zh-Hant", "big5"), ("ko", "euc_kr"), ("ar", "cp1256"), ("he", "cp1255"),
])
def test_a_seed_in_another_scripts_legacy_encoding_is_read_as_cp1252_with_a_notice(language, encoding):
    """DESIGN §1 reads any seed that is not UTF-8 as cp1252, and so such a seed built with a
    garbled title ("Íîâàÿ áèáëèîòåêà") and exit 0, without a word."""
    # A character the encoding lacks (KOI8-R has no em dash) is a "?", as a converter writes it.
    data = (LANGUAGES / f"{language}.txt").read_text("utf-8").encode(encoding, errors="replace")
    document = parse_seed(data, f"{language}.txt")
    assert document.source.encoding == "cp1252"
    assert document.notices == (OTHER_ENCODING,)


@pytest.mark.parametrize("language, encoding", [
    ("de", "cp1252"), ("es", "cp1252"), ("fr", "cp1252"), ("it", "cp1252"), ("pt", "cp1252"),
    ("tr", "cp1254"), ("pl", "cp1250"),
])
def test_western_text_in_a_legacy_encoding_is_no_notice(language, encoding):
    data = (LANGUAGES / f"{language}.txt").read_text("utf-8").encode(encoding)
    document = parse_seed(data, f"{language}.txt")
    assert document.source.encoding == "cp1252" and document.notices == ()


def test_a_seed_garbled_as_cp1252_is_said_recorded_and_refused_by_strict(tmp_path):
    seed = tmp_path / "ru.txt"
    seed.write_bytes((LANGUAGES / "ru.txt").read_text("utf-8").encode("cp1251"))
    result = seedpress("convert", seed, "--to", "md", "--out", tmp_path / "out")
    assert result.returncode == 0
    assert result.stderr == f"seedpress: notice: {seed}: {NOTICES[OTHER_ENCODING]}\n"
    assert "\nnotices: [other-encoding]\n" in (tmp_path / "out" / "ru" / "ru.md").read_text("utf-8")
    strict = seedpress("convert", seed, "--to", "md", "--out", tmp_path / "strict", "--strict")
    assert strict.returncode == 1
    assert f"seedpress: {seed}: {NOTICES[OTHER_ENCODING]} (refused by --strict)\n" in strict.stderr
    assert not (tmp_path / "strict").exists()


def test_cp1252_bytes_are_read_as_cp1252_and_recorded():
    path = DATA / "cp1252.txt"
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    document = read_seed(path)
    assert document.source.encoding == "cp1252"
    assert document.title == "Café “culture” — naïve résumés cost €5"
    assert document.summary == (
        "The summary, in cp1252: “quoted”, ‘single’, café, crème brûlée, … and — dashes – and ™.",
    )
    assert document.original_article.text == "read the original article here"
    assert document.commentary == ("The commentary: François’s «guillemets» and § and °C.",)


def test_hard_wrapped_paragraphs_with_tabs_fold_to_one_space():
    document = read_seed(DATA / "hard_wrapped.txt")
    assert document.title == "A title that was hard wrapped across lines"
    assert document.summary == (
        "A summary paragraph that was hard wrapped at forty columns, with tabs inside and "
        "leading spaces on its lines.",
    )
    # The marker itself was wrapped; a line of spaces and tabs separated the paragraphs.
    assert document.original_article.url == "https://example.net/wrapped"
    assert document.commentary == ("Commentary wrapped with a CRLF and a lone CR",)


def test_text_is_nfc_and_non_ascii_spaces_are_kept():
    document = parse_seed("Cafe\u0301\n\nno\u00a0break and ideographic\u3000space".encode(), "nfc.txt")
    assert document.title == "Caf\u00e9"
    assert document.summary == ("no\u00a0break and ideographic\u3000space",)


def test_utf16_without_bom_is_refused_not_misread():
    with pytest.raises(SeedError, match="binary"):
        parse_seed("Title\n\nBody".encode("utf-16-le"), "nobom.txt")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_refused_in_one_line_that_says_how_to_save_it(tmp_path, codec):
    seed = tmp_path / "nobom.txt"
    seed.write_bytes("Café prices rise\n\nA summary.\n\nRead the original article here\n\nA note.\n".encode(codec))
    result = seedpress("convert", seed, "--out", tmp_path / "out")
    assert result.returncode == 1 and not (tmp_path / "out").exists()
    assert result.stderr == (f"seedpress: {seed}: binary file: contains NUL bytes (it reads as {codec.upper()} "
                             "without a byte order mark: save it as UTF-8, or as UTF-16 with one)\n")


@pytest.mark.parametrize("data", [b"Title\n\nSum\x00mary\n", b"\x00" * 64, b"T\x00\x00\x00" * 16,
                                  "Title\n\nBody".encode("utf-16-le")[:-1]])
def test_nul_bytes_that_are_not_utf16_get_no_utf16_hint(data):
    with pytest.raises(SeedError, match=r"^.*binary file: contains NUL bytes$"):
        parse_seed(data, "binary.txt")


def test_truncated_utf16_is_refused_with_the_encoding_named():
    with pytest.raises(SeedError, match="utf-16"):
        parse_seed(codecs.BOM_UTF16_LE + "Title\n\nBody".encode("utf-16-le") + b"\x00", "odd.txt")


# --- the marker -----------------------------------------------------------------------

def seed_with(*paragraphs: str) -> bytes:
    return "\n\n".join(("A title", *paragraphs)).encode("utf-8")


def test_no_marker_means_everything_is_summary():
    document = read_seed(DATA / "no_marker.txt")
    assert document.original_article is None
    assert document.commentary == ()
    assert len(document.summary) == 3
    assert document.summary[2].startswith("A third paragraph, still summary: Read the original article")


@pytest.mark.parametrize("marker, text, url", [
    ("Read the original article here", "Read the original article here", None),
    ("Read the original article", "Read the original article", None),
    ("read the original article here.", "read the original article here", None),
    ("READ THE ORIGINAL ARTICLE HERE: https://example.org/x", "READ THE ORIGINAL ARTICLE HERE",
     "https://example.org/x"),
    ("Read the original article: http://example.org/a?b=1&c=2.", "Read the original article",
     "http://example.org/a?b=1&c=2"),
    ("Read the original article here https://example.org/", "Read the original article here",
     "https://example.org/"),
])
def test_marker_forms(marker, text, url):
    document = parse_seed(seed_with("Summary.", marker, "Commentary."), "m.txt")
    assert document.summary == ("Summary.",)
    assert document.original_article.text == text
    assert document.original_article.url == url
    assert document.commentary == ("Commentary.",)


@pytest.mark.parametrize("not_a_marker", [
    "Read the original article here for more",
    "Please read the original article here",
    "Read the original article here: ftp://example.org/x",
    "Read the original article here: javascript:alert(1)",
    "Read the original article here: https://a.example https://b.example",
])
def test_paragraphs_that_only_look_like_markers_stay_summary(not_a_marker):
    document = parse_seed(seed_with("Summary.", not_a_marker), "m.txt")
    assert document.original_article is None
    assert document.summary == ("Summary.", not_a_marker)


def test_marker_with_url_is_recorded_and_a_second_marker_is_commentary():
    document = read_seed(DATA / "marker_url.txt")
    assert document.original_article.url == (
        "https://example.com/articles/2024/10/us-raid-syria?utm_source=seed&id=7"
    )
    assert document.summary == ("The summary says what the article said.",)
    assert document.commentary == (
        "The commentary says what we think.",
        "read the original article here: https://example.com/second-marker-is-text",
        "The paragraph after the second marker is commentary too.",
    )


def test_markup_in_a_seed_is_text():
    document = read_seed(DATA / "markup.txt")
    assert document.title == '*Rally* <b>bold</b> & "quotes" -- #1 [x](javascript:alert(1))'
    assert "# Not a heading" in document.summary
    assert "---" in document.summary
    assert '<script>alert("pwned")</script> <img src=x onerror=alert(1)> <!-- a comment --> ' \
           "&amp; &lt;tag&gt; &#65;" in document.summary
    assert document.commentary[-1] == "% not a title block : not a definition indented line (not code)"


# --- refusals ------------------------------------------------------------------------

@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b" \t\r\n \n\n  ", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary"),
    (b"Title\n\nText with a NUL \x00 byte", "binary"),
    (bytes(range(1, 9)) * 20 + b"\n\ntext", "binary"),
    (b"Only a title\n\n \n", "no paragraph after the title"),
    (b"Title\n\nRead the original article here\n\nCommentary only", "no summary"),
])
def test_refusals_name_the_file_and_the_reason(data, reason):
    with pytest.raises(SeedError) as raised:
        parse_seed(data, "bad-seed.txt")
    assert raised.value.path == "bad-seed.txt"
    assert reason in raised.value.reason
    assert "\n" not in str(raised.value)


def test_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(seed_with("x" * 100))
    assert read_seed(path, max_bytes=path.stat().st_size).summary == ("x" * 100,)
    with pytest.raises(SeedError, match="larger than the size limit"):
        read_seed(path, max_bytes=path.stat().st_size - 1)


def test_missing_file_is_a_seed_error(tmp_path):
    with pytest.raises(SeedError, match="cannot read"):
        read_seed(tmp_path / "absent.txt")


# --- the property ------------------------------------------------------------------

@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds())
def test_any_typed_seed_reads_back_as_written(seed):
    """Whatever the encoding, line endings, wraps and text, the paragraphs are the typed ones."""
    data, expected = seed
    document = parse_seed(data, "typed.txt")
    assert document.title == expected["title"]
    assert document.summary == expected["summary"]
    assert document.commentary == expected["commentary"]
    assert (document.original_article is not None) == expected["marker"]
    if expected["marker"]:
        assert document.original_article.url == expected["url"]
    assert document.source.sha256 == hashlib.sha256(data).hexdigest()

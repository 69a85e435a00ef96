"""`seedpress bag`: a BagIt 1.0 deposit (RFC 8493) of an archive, made with the Library of
Congress `bagit` library.

    OUT/bagit.txt                         BagIt-Version: 1.0
    OUT/bag-info.txt                      who, what, when, how many (Seed-Count: seeds in data/)
    OUT/data/<key>/<key>.{md,pdf,epub,docx,txt}   every seed with a good build
    OUT/manifest-sha512.txt, manifest-sha256.txt  every payload file
    OUT/premis-events.xml                 builds and verify runs as PREMIS 3 events
    OUT/tagmanifest-sha512.txt, tagmanifest-sha256.txt  every other file above

The bag is made under a temporary name beside OUT while the archive's lock is held, so it
never holds a half-written seed, and renamed into place only when it is complete. With
force, OUT is replaced only when it is itself a bag seedpress made.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bagit

from convert import GENERATOR, PROGRAM, defaults
from convert.archive.catalog import BuiltSeed, built_seeds, fixity_history, open_catalog_readonly
from convert.dates import now
from convert.deposit.premis import premis_events
from convert.document.provenance import text_problem
from convert.errors import ConfigError, SeedpressError
from convert.files import NotRegularFileError, fsync_directory, fsync_tree, open_regular, read_regular
from convert.layout import CATALOG_NAME, archive_lock, edition_file

#: Payload and tag manifests, the stronger first (RFC 8493 §2.4 recommends SHA-512).
CHECKSUMS = ("sha512", "sha256")
PREMIS_NAME = "premis-events.xml"
#: bagit writes version 0.97 (LibraryOfCongress/bagit-python#141); this is the declaration
#: of RFC 8493, which the bag otherwise follows, put in before the tag manifests are made.
BAGIT_DECLARATION = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
#: How bag-info.txt names the program that made the bag; --force replaces only a bag that says so.
SOFTWARE_AGENT = "Bag-Software-Agent"


@dataclass(frozen=True)
class BagSummary:
    """What `write_bag` wrote."""

    path: Path
    seeds: int
    """Seeds in the payload, five files each."""
    files: int
    """Payload files."""
    bytes: int
    """Payload bytes."""
    fixity_checks: int
    """Recorded verify runs, each a PREMIS event."""

    def line(self) -> str:
        return (f"{self.path}: a BagIt 1.0 bag of {_count(self.seeds, 'seed')} ({self.files} files, "
                f"{self.bytes} bytes) and {_count(self.fixity_checks, 'fixity check')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def write_bag(dist: Path, out: Path, *, force: bool = False, title: str = defaults.ARCHIVE_TITLE,
              publisher: str | None = None) -> BagSummary:
    """Write a BagIt 1.0 bag of every seed of `dist` with a good build to the folder `out`.

    `title` is its External-Description and `publisher` its Source-Organization (left out
    when None). An existing `out` is refused (ConfigError) unless `force` and it is a bag
    seedpress made, and then replaced only once the new bag is complete. Raises LockedError
    when an archive run holds `dist`, and SeedpressError when a catalogued file is missing,
    changed or not a regular file (verify names it)."""
    # Absolute, so that OUT's parent and name are real ones even for "." or "bag/..".
    dist, out = Path(dist), Path(os.path.abspath(out))
    for name, value in {"title": title, "publisher": publisher}.items():
        problem = text_problem(value) if value is not None else None
        if problem is not None:
            raise ConfigError(f"the bag's {name} {problem}")
    _check_places(dist, out, force)
    temporary = out.parent / f".{out.name}.{os.getpid()}.tmp"
    with archive_lock(dist, "bag"), _bag_errors(dist, out):
        seeds, checks = _read_catalog(dist)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            files, size = _copy_payload(dist, seeds, temporary)
            _make_bag(temporary, _bag_info(len(seeds), title, publisher), premis_events(seeds, checks))
            fsync_tree(temporary)
            _move_into_place(temporary, out, force)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    return BagSummary(out, len(seeds), files, size, len(checks))


def _bag_info(seeds: int, title: str, publisher: str | None) -> dict[str, str]:
    info = {"External-Description": title, SOFTWARE_AGENT: GENERATOR,
            "Bagging-Date": now()[:10], "Seed-Count": str(seeds)}  # Bagging-Date: the UTC day
    if publisher is not None:
        info["Source-Organization"] = publisher
    for name, value in info.items():
        # bagit writes each as one "Name: value" line and reads the file back split by
        # str.splitlines(): a value that breaks there would add tags of its own.
        if value.splitlines() != [value]:
            raise ConfigError(f"bag-info.txt: {name} would not be one line: {value!r}")
    return info


def _make_bag(folder: Path, info: dict[str, str], premis: bytes) -> None:
    """Turn `folder`, holding the payload, into a BagIt 1.0 bag with the PREMIS file as a tag file."""
    bagit.make_bag(str(folder), info, checksums=list(CHECKSUMS))
    (folder / "bagit.txt").write_bytes(BAGIT_DECLARATION)
    for algorithm in CHECKSUMS:
        # bagit writes no manifest for an empty payload; RFC 8493 wants one, empty then.
        (folder / f"manifest-{algorithm}.txt").touch()
    (folder / PREMIS_NAME).write_bytes(premis)
    # Read back, so that the tag manifests it writes again cover every file above.
    bagit.Bag(str(folder)).save()


def _check_places(dist: Path, out: Path, force: bool) -> None:
    """Refuse, before touching anything, a dist that is no archive, an OUT that exists
    (without force, or with force when it is not a bag seedpress made) and an OUT inside
    the archive or holding it."""
    if not (dist / CATALOG_NAME).is_file():
        raise ConfigError(f"{dist}: no {CATALOG_NAME} here: not an archive built by seedpress archive")
    if os.path.lexists(out) and not force:
        # --force is offered only where it would be taken: it replaces nothing but a bag
        # seedpress made, and saying otherwise sent a user to a second refusal.
        raise ConfigError(f"{out}: already exists (--force replaces it)" if is_seedpress_bag(out)
                          else f"{out}: already exists, and is not a bag made by seedpress bag: give another OUT")
    archive, target = dist.resolve(), out.resolve()
    if target.is_relative_to(archive) or archive.is_relative_to(target):
        raise ConfigError(f"{out}: a bag cannot be written inside the archive {dist} or over it")
    if os.path.lexists(out):
        _check_replaceable(out)


def is_seedpress_bag(folder: Path) -> bool:
    """True when `folder` is a real folder (no link) holding a bagit.txt that declares a
    BagIt version and a bag-info.txt that names seedpress as the software that made it."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        declaration = read_regular(folder / "bagit.txt").decode("utf-8-sig").splitlines()
        info = read_regular(folder / "bag-info.txt").decode("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    return (any(line.startswith("BagIt-Version:") for line in declaration)
            and any(line.startswith(f"{SOFTWARE_AGENT}: {PROGRAM} ") for line in info))


def _check_replaceable(out: Path) -> None:
    """Refuse to replace anything but a bag seedpress made: a mistyped OUT (the seeds
    folder, a home folder) is never deleted."""
    if not is_seedpress_bag(out):
        raise ConfigError(f"{out}: not a bag made by seedpress bag: --force replaces only such a bag")


def _read_catalog(dist: Path):
    connection = open_catalog_readonly(dist)
    try:
        return built_seeds(connection), fixity_history(connection)
    finally:
        connection.close()


def _copy_payload(dist: Path, seeds: list[BuiltSeed], bag: Path) -> tuple[int, int]:
    """Copy every seed's files into `bag`/<key>/ (bagit moves them into data/), checking each
    against its catalogued sha256 on the way; the number of files and of bytes."""
    root = dist.resolve()
    files = size = 0
    bag.mkdir()
    for seed in seeds:
        folder = bag / seed.key
        for edition in defaults.ARCHIVED_EDITIONS:
            source = dist / seed.key / edition_file(seed.key, edition)
            if edition not in seed.files:
                raise SeedpressError(f"{source}: not in the catalog (incomplete seed): run seedpress archive")
            if not source.resolve().is_relative_to(root):
                raise SeedpressError(f"{source}: refused: it leads out of {dist}")
            folder.mkdir(exist_ok=True)
            digest = hashlib.sha256()
            try:
                reader = open_regular(source)
            except FileNotFoundError:
                raise SeedpressError(f"{source}: missing: seedpress verify names every such file") from None
            except NotRegularFileError:
                raise SeedpressError(f"{source}: not a regular file: seedpress verify names every such file") from None
            with reader, open(folder / source.name, "xb") as writer:
                for block in iter(functools.partial(reader.read, 1 << 20), b""):
                    digest.update(block)
                    writer.write(block)
                    size += len(block)
            if digest.hexdigest() != seed.files[edition][1]:
                raise SeedpressError(f"{source}: changed since it was catalogued: seedpress verify names "
                                     "every such file")
            files += 1
    return files, size


def _move_into_place(temporary: Path, out: Path, force: bool) -> None:
    """Rename the complete bag to `out`; an old `out` is renamed aside first and deleted
    only once the new one is in place."""
    if not os.path.lexists(out):
        os.rename(temporary, out)
        fsync_directory(out.parent)
        return
    if not force:  # it appeared while the bag was being made
        raise ConfigError(f"{out}: already exists (--force replaces it)")
    _check_replaceable(out)  # and it may have been swapped for something else meanwhile
    aside = out.parent / f".{out.name}.{os.getpid()}.old"
    os.rename(out, aside)
    try:
        os.rename(temporary, out)
    except BaseException:
        os.rename(aside, out)
        raise
    try:
        fsync_directory(out.parent)
    finally:  # the new bag is in place: a signal now must not leave the old one aside
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()


@contextmanager
def _bag_errors(dist: Path, out: Path) -> Iterator[None]:
    """Turn a failing read, copy or write (a damaged catalog, a full disk) into one clear error."""
    try:
        yield
    except sqlite3.Error as error:
        raise SeedpressError(f"{dist / CATALOG_NAME}: unreadable catalog: {error}") from None
    except bagit.BagError as error:
        raise SeedpressError(f"{out}: bagit could not make the bag: {error}") from None
    except OSError as error:
        where = error.filename or out
        raise SeedpressError(f"{where}: {error.strerror or error}") from None

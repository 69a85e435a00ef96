"""`seedpress verify`: re-hash every archived file against the catalog and SHA256SUMS."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from .defaults import ARCHIVED_EDITIONS
from .catalog import CATALOG_NAME, catalogued_files, open_catalog_readonly
from .errors import ConfigError
from .handout import SUMS_NAME


def verify_archive(dist: Path) -> list[str]:
    """Every problem found re-hashing the archive against its catalog and SHA256SUMS, one line each."""
    dist = Path(dist)
    catalog = dist / CATALOG_NAME
    if not catalog.is_file():
        raise ConfigError(f"{dist}: no {CATALOG_NAME} here: not an archive built by seedpress archive")
    connection = open_catalog_readonly(dist)
    try:
        rows = catalogued_files(connection)
    except sqlite3.Error as error:
        return [f"{catalog}: unreadable catalog: {error}"]
    finally:
        connection.close()
    problems: list[str] = []
    expected: dict[str, str] = {}
    editions: dict[str, set[str]] = {}
    for key, edition, path, sha256 in rows:
        editions.setdefault(key, set())
        if edition is None:
            continue
        editions[key].add(edition)
        expected[path] = sha256
        problems += _check_file(dist, path, sha256, "the catalog")
    for key, have in sorted(editions.items()):
        for edition in ARCHIVED_EDITIONS:
            if edition not in have:
                problems.append(f"{dist / key / f'{key}.{edition}'}: not in the catalog (incomplete seed)")
    problems += _check_sums(dist, expected)
    return problems


def _check_file(dist: Path, relative: str, sha256: str, against: str) -> list[str]:
    path = dist / relative
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        return [f"{path}: missing"]
    except OSError as error:
        return [f"{path}: unreadable: {error.strerror}"]
    if digest != sha256:
        return [f"{path}: changed (its sha256 differs from {against})"]
    return []


def _check_sums(dist: Path, expected: dict[str, str]) -> list[str]:
    sums_path = dist / SUMS_NAME
    try:
        lines = sums_path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return [f"{sums_path}: missing"]
    except (OSError, UnicodeDecodeError) as error:
        return [f"{sums_path}: unreadable: {getattr(error, 'strerror', None) or error}"]
    listed = {}
    for line in lines:
        digest, _, relative = line.partition("  ")
        listed[relative] = digest
    problems = []
    for relative, digest in sorted(listed.items()):
        if relative not in expected:
            problems.append(f"{sums_path}: lists {relative}, which the catalog does not have")
        elif digest != expected[relative]:
            problems.append(f"{sums_path}: its hash of {relative} differs from the catalog")
    for relative in sorted(set(expected) - set(listed)):
        problems.append(f"{sums_path}: does not list {relative}")
    return problems


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""`seedpress status`: what the archive holds, how its last run and its last verify went,
which seeds fail now, and the disk it uses; read from the catalog, opened read-only."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from convert.archive.catalog import FixityCheck, RunRecord, fixity_history, holdings, last_runs, open_catalog_readonly
from convert.archive.guard import titles_held
from convert.errors import ConfigError, SeedpressError
from convert.layout import CATALOG_NAME, LOCK_HOLDERS, held_by


@dataclass(frozen=True)
class ArchiveStatus:
    """The state of one archive folder."""

    dist: str
    titles: int
    """Titles held: seeds with a good build, in the hand-out."""
    title_bytes: int
    """The size of the files catalogued for them."""
    disk_bytes: int
    """The disk the whole archive folder uses (withdrawn files, catalog and search included)."""
    last_run: RunRecord | None
    """The last archive run that got the lock; None before the first (or in an older catalog)."""
    last_finished_run: RunRecord | None
    """The last one that ran to the end (exit 0 or 1)."""
    failing: tuple[tuple[str, str, str], ...]
    """(key, file name, error) of every seed whose last attempt failed."""
    last_verify: FixityCheck | None
    """The last `seedpress verify`; None when none was recorded."""
    held_by: str | None = None
    """The word (layout.LOCK_HOLDERS) of the command that holds the archive now: archive,
    restore or bag; the last run shown is then the one before. None: none holds it."""

    def as_json(self) -> dict:
        verify = self.last_verify
        return {
            "dist": self.dist, "titles": self.titles, "title_bytes": self.title_bytes,
            "disk_bytes": self.disk_bytes,
            "run_under_way": self.held_by is not None, "held_by": self.held_by,
            "last_run": self.last_run.as_json() if self.last_run else None,
            "last_finished_run": self.last_finished_run.as_json() if self.last_finished_run else None,
            "failing": [{"key": key, "input": name, "error": error} for key, name, error in self.failing],
            "last_verify": None if verify is None else {
                "checked_at": verify.checked_at, "files": verify.files, "passed": verify.passed,
                "problems": [problem.as_json() for problem in verify.problems]},
        }

    def lines(self) -> list[str]:
        """The status as a person reads it, one fact a line."""
        said = [f"{self.dist}: {titles_held(self.titles)}, {_size(self.title_bytes)} in their files, "
                f"{_size(self.disk_bytes)} on disk"]
        run = self.last_run
        if run is None:
            said.append("last run: none recorded")
        else:
            said.append(f"last run: {run.started_at} to {run.ended_at}, {run.built} built, {run.unchanged} unchanged, "
                        f"{run.failed} failed, {run.withdrawn} withdrawn, exit {run.exit_code}"
                        + (f": {run.error}" if run.error else ""))
        if self.held_by is not None:
            said.append(f"now: {LOCK_HOLDERS[self.held_by].now}")
        said.append(f"failing now: {len(self.failing)}")
        said += [f"  {error}" for _key, _name, error in self.failing]
        verify = self.last_verify
        if verify is None:
            said.append("last verify: none recorded")
        else:
            count = len(verify.problems)
            result = "passed" if verify.passed else f"{count} problem{'' if count == 1 else 's'}"
            said.append(f"last verify: {verify.checked_at}, {verify.files} files, {result}")
            said += [f"  {problem.line}" for problem in verify.problems]
        return said


def archive_status(dist: Path) -> ArchiveStatus:
    """The status of `dist`; ConfigError when it is no archive, SeedpressError when its
    catalog cannot be read."""
    dist = Path(dist)
    if not (dist / CATALOG_NAME).is_file():
        raise ConfigError(f"{dist}: no {CATALOG_NAME} here: not an archive built by seedpress archive")
    try:
        connection = open_catalog_readonly(dist)
        try:
            held = holdings(connection)
            last, finished = last_runs(connection)
            checks = fixity_history(connection)
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise SeedpressError(f"{dist / CATALOG_NAME}: cannot read the catalog: {error}") from None
    last_verify = checks[max(checks)] if checks else None
    return ArchiveStatus(str(dist), held.titles, held.bytes, disk_usage(dist), last, finished, held.failing,
                         last_verify, held_by(dist))


def disk_usage(folder: Path) -> int:
    """Bytes of disk the files under `folder` take, as du counts them (links not followed)."""
    total = 0
    for root, _folders, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue  # gone while we looked
    return total


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"

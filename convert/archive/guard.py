"""Never dark by accident: what an archive run checks before it withdraws anything.

An empty seeds folder, one that is missing or not a folder, a mount point with nothing
mounted, or a sync tool that emptied it for a moment all look like "every seed left".
A run that would withdraw more than defaults.MASS_WITHDRAW_SHARE of the titles the
archive holds (or every one of them) changes nothing and raises MassWithdrawalRefused,
unless the operator means it (`--allow-mass-withdraw`, `[archive] allow_mass_withdraw`).

A seed that never built (its only row is a failure) holds no title: when it leaves the
folder, its failure goes away (forget_gone_failures), and it is never "withdrawn".
Seeds in subfolders are not built: each is named in a warning (nested_seeds).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from convert import defaults
from convert.archive.catalog import SeedRow, forget_seed, seed_rows
from convert.build.outcome import Status
from convert.defaults import is_input_name
from convert.errors import ConfigError, MassWithdrawalRefused
from convert.layout import CATALOG_NAME


def titles_held(count: int) -> str:
    """"1 title held", "4 titles held"."""
    return f"{count} {'title' if count == 1 else 'titles'} held"


def seeds_folder_problem(seeds_dir: Path) -> str | None:
    """Why `seeds_dir` is no folder of seeds at all (missing, not a folder); None when it is one."""
    if not seeds_dir.exists():
        return "no such folder"
    if not seeds_dir.is_dir():
        return "not a folder"
    return None


def check_withdrawals(rows: dict[str, SeedRow], present_keys: Collection[str | None], seeds_dir: Path, *,
                      folder_problem: str | None = None, allow: bool = False,
                      share: float = defaults.MASS_WITHDRAW_SHARE) -> None:
    """Raise MassWithdrawalRefused when this run would withdraw more than `share` of the titles
    held, or all of them, and `allow` is false; a seeds folder that is missing or not a folder
    is refused whatever `allow` says (a typo is never meant: to withdraw everything, archive
    an empty folder with `allow`). Made before anything is withdrawn or built."""
    held = [key for key, row in rows.items() if row.status is Status.BUILT]
    if folder_problem is not None:
        if not held:
            raise ConfigError(f"{seeds_dir}: not a folder of seeds ({folder_problem})")
        raise MassWithdrawalRefused(
            f"{seeds_dir}: {folder_problem}: withdrew none of the {titles_held(len(held))} "
            f"(is the share mounted? is the path right?)")
    leaving = [key for key in held if key not in present_keys]
    if allow or not leaving or (len(leaving) <= share * len(held) and len(leaving) < len(held)):
        return
    why = ("the folder is empty (is the share mounted?)" if not present_keys
           else f"more than {share:.0%} of the archive")
    raise MassWithdrawalRefused(
        f"{seeds_dir}: would withdraw {len(leaving)} of the {titles_held(len(held))}, {why}: withdrew nothing "
        f"(--allow-mass-withdraw if that is meant)")
def forget_gone_failures(connection: sqlite3.Connection, present_keys: Collection[str | None],
                         rows: Mapping[str, SeedRow] | None = None) -> list[SeedRow]:
    """Drop from the catalog the seeds that never built and are no longer in the seeds folder;
    return their rows. Their failures went away with them: nothing is withdrawn. `rows`:
    the catalog's, if read already (seed_rows)."""
    if rows is None:
        # A damaged row is named once, by the update that follows.
        rows = seed_rows(connection, lambda problem: None)
    gone = [row for key, row in sorted(rows.items())
            if row.status is Status.FAILED and key not in present_keys]
    for row in gone:
        forget_seed(connection, row.key)
    return gone


def nested_seeds(seeds_dir: Path) -> Iterator[Path]:
    """The seeds and masters in subfolders of `seeds_dir`, which an archive run does not build
    (only the files directly in it are seeds): each is named in a warning. Hidden folders
    are skipped, links to folders are not followed, and neither is an archive's folder (one
    with a catalog): `seedpress archive . --dist dist` run among the seeds named each
    title's master and seed copy in dist/ at every run after the first."""
    for folder, subfolders, files in os.walk(seeds_dir):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".")
                               and not os.path.lexists(os.path.join(folder, name, CATALOG_NAME)))
        if Path(folder) == seeds_dir:
            continue
        for name in sorted(files):
            if is_input_name(name):
                yield Path(folder) / name

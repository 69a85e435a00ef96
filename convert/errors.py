"""The exceptions seedpress raises; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

import signal
from pathlib import Path


class SeedpressError(Exception):
    """Base of every error seedpress reports to a user as one line."""


class SeedError(SeedpressError):
    """A seed or master could not be read: the file and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class RenderError(SeedpressError):
    """An edition could not be rendered or did not pass its gate."""

    def __init__(self, edition: str, path: Path | str, reason: str):
        self.edition = edition
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {edition}: {reason}")


class ConfigError(SeedpressError):
    """The command line, the environment or the tools are not usable as given."""


class LockedError(SeedpressError):
    """Another archive run holds the lock on the dist folder."""


class QueryError(SeedpressError):
    """A search query the index cannot run: bad FTS5 syntax, or too long."""


class RunStopped(SeedpressError):
    """An archive run stopped part-way through (its cluster went away); every seed it
    committed before that stays valid, and the next run builds the rest."""


class MassWithdrawalRefused(SeedpressError):
    """An archive run would have withdrawn more of the archive than an operator ever means
    by accident (an empty, missing or unmounted seeds folder): it changed nothing."""


class Stopped(BaseException):
    """SIGTERM (systemctl stop) or SIGINT arrived: raised where the command is, so that its
    clean-up runs and an archive run is recorded as stopped."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number

    def __str__(self) -> str:
        return f"stopped by {signal.Signals(self.signal_number).name}"

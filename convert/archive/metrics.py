"""The archive run's metrics in the Prometheus text format, written atomically to
dist/.metrics/seedpress.prom for node_exporter's textfile collector (DESIGN §5).

Every run that gets the lock rewrites the file, a refused or stopped one included (its
exit code says so), from the run's record and what the catalog holds afterwards.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from convert.archive.catalog import RunRecord, holdings, last_runs
from convert.dates import parse_timestamp
from convert.files import write_atomic
from convert.layout import METRICS_DIR_NAME, METRICS_FILE_NAME

#: Every metric's name starts with this.
PREFIX = "seedpress_archive"


def run_metrics(run: RunRecord, connection: sqlite3.Connection) -> bytes:
    """The metrics of `run`, the last run recorded, and of the archive after it."""
    registry = CollectorRegistry()

    def gauge(name: str, documentation: str, value: float) -> None:
        Gauge(f"{PREFIX}_{name}", documentation, registry=registry).set(value)

    gauge("run_duration_seconds", "How long the last archive run took.", run.seconds)
    gauge("run_timestamp_seconds", "When the last archive run ended (Unix time).",
          parse_timestamp(run.ended_at).timestamp())
    gauge("run_exit_code", "The exit code of the last archive run (0 good, 1 seeds failed, 3 refused "
          "a mass withdrawal).", run.exit_code)
    seeds = Gauge(f"{PREFIX}_run_seeds", "Seeds of the last archive run, by what became of them.", ["outcome"],
                  registry=registry)
    for outcome in ("built", "unchanged", "failed", "withdrawn", "gone"):
        seeds.labels(outcome=outcome).set(getattr(run, outcome))
    _, finished = last_runs(connection)
    if finished is not None:
        gauge("last_success_timestamp_seconds", "When the last archive run that ran to the end (exit 0 or 1) "
              "ended (Unix time).", parse_timestamp(finished.ended_at).timestamp())
    held = holdings(connection)
    gauge("titles", "Titles the archive holds (seeds with a good build).", held.titles)
    gauge("title_bytes", "Bytes of the files catalogued for the titles held.", held.bytes)
    gauge("failing_seeds", "Seeds whose last attempt failed.", len(held.failing))
    return generate_latest(registry)


def write_run_metrics(dist: Path, run: RunRecord, connection: sqlite3.Connection) -> Path:
    """Write the metrics of `run` to dist/.metrics/seedpress.prom atomically; return its path."""
    folder = dist / METRICS_DIR_NAME
    folder.mkdir(exist_ok=True)
    path = folder / METRICS_FILE_NAME
    write_atomic(path, run_metrics(run, connection))
    return path

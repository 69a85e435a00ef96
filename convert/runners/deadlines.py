"""How long an archive run on a Dask cluster waits on its workers: apart from the cluster
runner, so that reading seedpress.toml's [cluster] table imports no Dask driver."""

from __future__ import annotations

from dataclasses import dataclass

from convert import defaults


@dataclass(frozen=True)
class Deadlines:
    """How long the driver waits on a cluster (seedpress.toml's [cluster] table). A worker
    whose task hangs, or whose error Dask cannot send back (the future then never
    completes), costs its seed this long, never the run."""

    grace: float = defaults.CLUSTER_GRACE
    """No worker able to render, or no word of a task that ended, for this long: given up."""
    answer_margin: float = defaults.CLUSTER_ANSWER_MARGIN
    """Seconds past a seed's time limit before a task that has not answered is given up."""

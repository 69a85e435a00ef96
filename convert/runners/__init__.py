"""Beside the archive: where inputs are built — the local pool of warm workers (pool) and a Dask cluster (cluster, cluster_worker, cluster_renderer)."""

"""What an archive run installs on each Dask worker: its environment check and warm renderers.

The driver registers one `RendererPlugin` per environment (its digest names the
plugin). On every worker, now and joining later, the plugin writes the style
files it carries into the worker's own folder (no shared file system), computes
the worker's environment digest with them, and only if it equals the driver's
starts one renderer process per worker thread (convert/cluster_renderer.py) and
grants the worker the plugin's resource, which every seed task asks for: a
worker with another seedpress, pandoc, WeasyPrint or other fonts never gets one.
A worker restarted by its nanny is set up again, and so is taken back.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

from distributed import Status, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from convert import defaults
from convert.build.input import Rendered, time_failure
from convert.build.outcome import Limit, Outcome
from convert.layout import edition_file
from convert.runners.cluster_renderer import Crashed, RendererProcess, RenderRequest

#: The text fields of a build's Built that travel back from a worker (with its provenance).
BUILT_TEXTS = ("title", "identifier", "source_sha256", "summary", "created", "lang", "summary_text",
               "commentary_text")


class RendererPlugin(WorkerPlugin):
    """Checks a worker's environment against the driver's and keeps its renderers warm."""

    #: Registering it again (the next run, the same environment) keeps the warm renderers.
    idempotent = True

    def __init__(self, styles: dict[str, bytes], lang: str | None, provenance, memory: int, environment: str,
                 archive_title: str | None = None, base_url: str | None = None, archive_lang: str | None = None):
        self.styles = styles
        """The driver's style files, by path relative to the styles folder."""
        self.provenance = provenance
        """The run's author, publisher, rights and license, part of the environment digest."""
        self.lang = lang
        """The run's --lang, part of the environment digest."""
        self.memory = memory
        """The run's --memory: the renderers warmed ahead of its first seed use it."""
        self.environment = environment
        """The driver's environment digest: a worker must have the same to render."""
        self.archive_title = archive_title
        """The run's archive title (seedpress.toml's [archive]), part of the environment digest."""
        self.base_url = base_url
        """The run's base URL (seedpress.toml's [archive]), part of the environment digest."""
        self.archive_lang = archive_lang
        """The run's index language (seedpress.toml's [archive]), part of the environment digest."""
        self.name = f"seedpress-{environment[:16]}"
        """The plugin's name on the cluster, and the resource a matching worker has."""

    # Each worker unpickles its own copy; these hold that worker's state.
    def _local_state(self, worker) -> None:
        self.worker = worker
        self.lock = threading.Lock()
        self.idle: list[RendererProcess] = []
        self.closed = False
        self.digest: str | None = None
        self.problem: str | None = None
        self.styles_dir = Path(tempfile.mkdtemp(prefix="seedpress-styles-", dir=worker.local_directory))
        for relative, data in self.styles.items():
            path = self.styles_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    async def setup(self, worker) -> None:
        try:
            self._local_state(worker)
        except Exception as error:  # noqa: BLE001 (one worker's trouble must not stop registering)
            self.digest, self.problem = None, f"cannot set up: {type(error).__name__}: {error}"
            return
        await self.check()

    async def check(self) -> dict[str, str | None]:
        """Compute this worker's digest again (fonts can change under a running worker);
        grant the resource and warm the renderers if it matches, take both away if not."""
        from convert.build.environment import environment_digest

        if not hasattr(self, "styles_dir"):
            return {"digest": None, "problem": self.problem}
        try:
            self.digest = await asyncio.to_thread(environment_digest, self.styles_dir, self.lang, self.provenance,
                                                    self.archive_title, self.base_url, self.archive_lang)
            self.problem = None
        except Exception as error:  # noqa: BLE001 (reported to the driver as this worker's problem)
            self.digest, self.problem = None, f"cannot compute its environment: {type(error).__name__}: {error}"
        matching = self.digest == self.environment
        with self.lock:
            if matching:
                while len(self.idle) < self.worker.state.nthreads:
                    self.idle.append(RendererProcess(self.memory).start())
            else:
                self._close_renderers()
        await self._grant(self.worker.state.nthreads if matching else 0)
        return {"digest": self.digest, "problem": self.problem}

    async def _grant(self, slots: int) -> None:
        """Give the worker `slots` of the plugin's resource (0: none), and have the scheduler
        look at it again."""
        if self.worker.state.total_resources.get(self.name) == slots:
            return
        await self.worker.set_resources(**{self.name: slots})
        if slots and self.worker.status == Status.running:
            # The scheduler finds a worker for its waiting ("no-worker") tasks when one starts
            # running, not when one gains a resource: seeds left waiting while every worker
            # able to render was gone (killed, restarting) would wait for ever. A pause and a
            # resume tell it to look again.
            self.worker.status = Status.paused
            self.worker.status = Status.running

    def teardown(self, worker) -> None:
        if not hasattr(self, "styles_dir"):
            return  # setup failed before there was anything to undo
        with self.lock:
            self.closed = True
            self._close_renderers()
        shutil.rmtree(self.styles_dir, ignore_errors=True)

    def _close_renderers(self) -> None:
        for renderer in self.idle:
            renderer.close()
        self.idle.clear()

    def render(self, request: RenderRequest):
        """Render one seed on an idle renderer of this worker (a new one if none is idle):
        a Rendered, a failed Outcome, or Crashed."""
        request = replace(request, options=replace(request.options, styles=self.styles_dir))
        with self.lock:
            renderer = self.idle.pop() if self.idle else RendererProcess(request.options.memory)
        try:
            answer = renderer.render(request, request.options.timeout + defaults.HARD_TIMEOUT_MARGIN)
        except BaseException:
            renderer.close()
            raise
        if answer is None:
            answer = time_failure(request.where, request.key, request.options, seconds=request.options.timeout)
        # A renderer whose seed ran out of the memory limit renders no other (pool.build_seed).
        spent = isinstance(answer, Outcome) and answer.limit is Limit.MEMORY
        if renderer.served >= defaults.WORKER_TASKS or not renderer.alive or spent:
            renderer.start()  # a fresh one warms up while this answer travels back
        with self.lock:
            if self.closed:
                renderer.close()
            else:
                self.idle.append(renderer)
        return answer


def render_on_worker(plugin_name: str, request: RenderRequest) -> dict:
    """The Dask task of one seed: the plugin's answer as plain data (`answer_data`)."""
    started = time.perf_counter()
    answer = get_worker().plugins[plugin_name].render(request)
    return answer_data(answer, request.key, time.perf_counter() - started)


def answer_data(answer, key: str, seconds: float) -> dict:
    """A worker's answer for the seed `key` as the driver takes it: a dict of str, bytes,
    float and None only, no seedpress object. The driver checks it and makes the Rendered
    or Outcome itself (convert/cluster.py, `_Answer`): what comes back from a worker is
    data to check, never an object to trust."""
    if isinstance(answer, Rendered):
        return {"kind": "rendered", "key": key, "seconds": seconds,
                "files": {edition_file(key, edition): data for edition, data in answer.files.items()},
                "built": {**{name: getattr(answer.built, name) for name in BUILT_TEXTS},
                          "provenance": asdict(answer.built.provenance)}}
    if isinstance(answer, Crashed):
        return {"kind": "crashed", "key": key, "seconds": seconds, "reason": answer.reason}
    return {"kind": "failed", "key": key, "seconds": seconds, "error": answer.error,
            "limit": answer.limit.value if answer.limit else None}


async def report_environment(plugin_name: str, dask_worker) -> dict[str, str | None]:
    """Run by the driver on every worker (client.run): its digest, checked afresh."""
    plugin = dask_worker.plugins.get(plugin_name)
    if plugin is None:
        return {"digest": None, "problem": "the seedpress plugin is not set up on it"}
    return await plugin.check()


__all__ = ["RendererPlugin", "render_on_worker", "answer_data", "BUILT_TEXTS", "report_environment", "Crashed",
           "RenderRequest"]

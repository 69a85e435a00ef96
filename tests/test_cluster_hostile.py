"""`archive --cluster` against hostile Dask workers (issue 20, D3): a real scheduler and a real
`dask worker` whose seedpress files are untouched (its environment digest matches) but whose
task function is replaced through `--preload`. It answers for another seed's key or a key
that leaves `dist`, with files other than the editions asked for, or never: each is refused
within the deadline, names the worker, changes no other seed's catalog row, and the run
exits 1 and releases dist/.lock.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.archives import TIME_LIMIT, write_seeds
from support.run import seedpress
from support.servers import free_port
from test_cluster import Cluster, dask, stop_group, workers_of

from convert.build.input import BuildOptions
from convert.defaults import CATALOGUED_EDITIONS
from convert.document.provenance import FIELDS as PROVENANCE_FIELDS
from convert.layout import CATALOG_NAME, edition_file
from convert.runners.cluster import _Answer, _Refused, _Sent
from convert.runners.cluster_worker import BUILT_TEXTS
from convert.runners.pool import SeedTask

pytestmark = pytest.mark.cluster

#: What the hostile worker reads before each seed: {"bait": KEY, "mode": ..., "victim": KEY}.
PLAN_VARIABLE = "SEEDPRESS_HOSTILE_PLAN"

#: The preload: seeds other than the bait are rendered honestly; the bait is answered as
#: the plan says. It knows the answer shapes before the fix (a (Rendered | Outcome,
#: seconds) tuple) and after it (a dict of plain data), so that the tests show both.
HOSTILE_PRELOAD = r'''
import json, os, time
from pathlib import Path

import convert.runners.cluster_worker as cluster_worker

# Dask runs a preload in the nanny and again in its worker: keep the one honest task.
honest = cluster_worker.__dict__.setdefault("honest_render_on_worker", cluster_worker.render_on_worker)


def plan():
    path = Path(os.environ["SEEDPRESS_HOSTILE_PLAN"])
    return json.loads(path.read_text()) if path.exists() else {}


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def hostile(plugin_name, request):
    asked = plan()
    if request.key != asked.get("bait"):
        return honest(plugin_name, request)
    mode, victim = asked["mode"], asked.get("victim")
    if mode == "hang":
        while plan().get("mode") == "hang":
            time.sleep(0.1)
        raise RuntimeError("released")
    if mode == "recursion":
        # A RecursionError, whose thousand-frame traceback Dask cannot send back.
        def deeper(depth):
            return deeper(depth + 1)
        deeper(0)
    if mode == "nested-error":
        # An error neither pickle nor repr can take: Dask sends back a stand-in.
        raise ValueError(nested(200_000))
    answer = honest(plugin_name, request)
    if isinstance(answer, dict):  # the plain data of the fixed driver
        files = answer["files"]
        if mode == "wrong-key":
            answer["key"] = victim
            answer["files"] = {name.replace(request.key, victim, 1): data for name, data in files.items()}
        elif mode == "extra-file":
            files["../x"] = b"x"
        elif mode == "missing-file":
            del files[f"{request.key}.pdf"]
        return answer
    rendered, seconds = answer  # before the fix: seedpress's own objects
    import dataclasses, hashlib
    from convert.build.outcome import EditionFile, Outcome, Status
    if mode == "wrong-key":
        files = {edition: EditionFile(f"{victim}/{victim}.{edition}", hashlib.sha256(data).hexdigest(), len(data))
                 for edition, data in rendered.files.items()}
        return Outcome(input=request.where, key=victim, status=Status.BUILT, built=rendered.built,
                       files=files), seconds
    files = dict(rendered.files)
    if mode == "extra-file":
        files["../x"] = b"x"
    elif mode == "missing-file":
        del files["pdf"]
    return dataclasses.replace(rendered, files=files), seconds


cluster_worker.render_on_worker = hostile
'''


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A scheduler and one one-thread worker started with `dask worker --preload` of the
    hostile module (the same command as the honest workers', one option more); its plan
    file. Both are killed on the way out, whatever the tests did."""
    folder = tmp_path_factory.mktemp("hostile")
    preload = folder / "hostile_preload.py"
    preload.write_text(HOSTILE_PRELOAD)
    plan = folder / "plan.json"
    plan.write_text("{}")
    port = free_port()
    cluster = Cluster(f"tcp://127.0.0.1:{port}", None, [], folder / "trace", folder)
    try:
        cluster.scheduler = dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                                 log=folder / "scheduler.log")
        # Two threads: one may hang on the bait while the other builds the other new seed.
        cluster.workers.append(dask("worker", cluster.address, "--nworkers", "1", "--nthreads", "2",
                                    "--no-dashboard", "--preload", str(preload), log=folder / "workers.log",
                                    env={PLAN_VARIABLE: str(plan)}))
        cluster.wait_for_workers(1)
        yield cluster, plan
    finally:
        plan.write_text("{}")  # a hanging bait ends
        for process in [*cluster.workers, cluster.scheduler]:
            if process is not None:
                stop_group(process)


def catalog_rows(dist: Path) -> dict[str, tuple]:
    with sqlite3.connect(f"file:{dist / CATALOG_NAME}?mode=ro", uri=True) as connection:
        return {row[0]: row for row in connection.execute("SELECT * FROM seeds ORDER BY key")}


def lock_is_free(dist: Path) -> bool:
    descriptor = os.open(dist / ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(descriptor)


def archive_with_bait(tmp_path: Path, address: str, plan: Path, *options: str, **asked) -> tuple:
    """Build three seeds honestly, then add the bait and one more seed and run again with
    the plan `asked` and `options`: (the second run, the rows before it, the rows after
    it, its seconds)."""
    seeds, dist = tmp_path / "seeds", tmp_path / "dist"
    write_seeds(seeds, 3)
    plan.write_text("{}")
    first = seedpress("archive", seeds, "--dist", dist, "--cluster", address)
    assert first.returncode == 0, first.stderr
    before = catalog_rows(dist)
    (seeds / "bait.txt").write_text((seeds / "article-0.txt").read_text("utf-8").replace("Article 0", "Bait"),
                                    "utf-8")
    write_seeds(seeds, 1, start=3)
    plan.write_text(json.dumps({"bait": "bait", **asked}))
    started = time.monotonic()
    second = seedpress("archive", seeds, "--dist", dist, "--cluster", address, *options)
    return second, before, catalog_rows(dist), time.monotonic() - started


def assert_refused(result, before: dict, after: dict, dist: Path, worker: str, reason: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    bait = dist.parent / "seeds" / "bait.txt"
    assert line.startswith(f"seedpress: {bait}: "), line
    assert worker in line and reason in line, line
    assert {key: row for key, row in after.items() if key not in ("bait", "article-3")} == before
    # The run went on: the other new seed is built.
    assert after["article-3"][status_column(dist)] == "built"
    assert (dist / "article-3" / "article-3.pdf").is_file()
    assert after["bait"][status_column(dist)] == "failed"
    assert not (dist / "bait").exists()
    assert lock_is_free(dist)
    again = seedpress("verify", "--dist", dist)
    assert again.returncode == 0, again.stderr


def status_column(dist: Path) -> int:
    with sqlite3.connect(f"file:{dist / CATALOG_NAME}?mode=ro", uri=True) as connection:
        names = [column[1] for column in connection.execute("PRAGMA table_info(seeds)")]
    return names.index("status")


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["article-0", "../../escaped"])
def test_worker_answering_for_another_key_is_refused(hostile, tmp_path, victim):
    cluster, plan = hostile
    (worker,) = workers_of(cluster.address)
    result, before, after, _seconds = archive_with_bait(tmp_path, cluster.address, plan,
                                                        mode="wrong-key", victim=victim)
    assert_refused(result, before, after, tmp_path / "dist", worker, f"it answered for the key {victim!r}")
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert not (tmp_path / "dist" / "article-0" / "bait.pdf").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "reason"), [("extra-file", "unexpected: '../x'"),
                                             ("missing-file", "missing: 'bait.pdf'")])
def test_worker_answering_with_other_files_is_refused(hostile, tmp_path, mode, reason):
    cluster, plan = hostile
    (worker,) = workers_of(cluster.address)
    result, before, after, _seconds = archive_with_bait(tmp_path, cluster.address, plan, mode=mode)
    assert_refused(result, before, after, tmp_path / "dist", worker, reason)
    assert not (tmp_path / "x").exists() and not (tmp_path / "dist" / "x").exists()


#: The driver's deadlines for these runs, from seedpress.toml's [cluster] table: shorter
#: than the defaults (60 s and 180 s) so that the tests wait seconds, not minutes.
GRACE, ANSWER_MARGIN = 8, 10


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "reason", "deadline"), [
    ("recursion", "raised an error, but Dask could not send it back", GRACE),
    ("hang", "gave no answer", int(TIME_LIMIT) + ANSWER_MARGIN),
])
def test_worker_that_never_answers_is_given_up_at_the_deadline(hostile, tmp_path, mode, reason, deadline):
    """A task whose error Dask cannot send back (the driver's future never completes) or
    that hangs: the seed fails after its deadline (the [cluster] grace after the scheduler
    heard of the error; the time limit plus the answer margin for a hang), and the run ends."""
    cluster, plan = hostile
    (worker,) = workers_of(cluster.address)
    config = tmp_path / "seedpress.toml"
    config.write_text(f"[cluster]\ngrace = {GRACE}\nanswer_margin = {ANSWER_MARGIN}\n")
    try:
        result, before, after, seconds = archive_with_bait(tmp_path, cluster.address, plan, "--timeout", TIME_LIMIT,
                                                           "--config", config, mode=mode)
    finally:
        plan.write_text("{}")  # a hanging bait ends, and the worker's thread with it
    assert_refused(result, before, after, tmp_path / "dist", worker, f"{reason} within {deadline} s"
                   if mode == "hang" else f"{reason} in {deadline} s")
    # Given up once the deadline passed, not long after (the driver looks every few seconds).
    assert deadline <= seconds < deadline + 60


@pytest.mark.slow
def test_worker_raising_an_error_is_named(hostile, tmp_path):
    """An error Dask can send back (a stand-in for one it cannot pickle) fails the seed at
    once, naming the worker the scheduler says raised it."""
    cluster, plan = hostile
    (worker,) = workers_of(cluster.address)
    result, before, after, _seconds = archive_with_bait(tmp_path, cluster.address, plan, mode="nested-error")
    assert_refused(result, before, after, tmp_path / "dist", worker, "RecursionError")


# --- the driver's check of an answer, on its own (no cluster needed) ------------------

SEED = b"Title\n\nSummary.\n"
SEED_SHA256 = hashlib.sha256(SEED).hexdigest()
CREATED = "2026-01-02T03:04:05Z"


def sent_for(key: str = "seed") -> _Sent:
    task = SeedTask(path=f"seeds/{key}.txt", key=key, dist="dist", options=BuildOptions(keep_seed=True))
    return _Sent(task, None, SEED_SHA256, CREATED)


def honest_answer(key: str = "seed") -> dict:
    """What an honest worker sends for SEED: the shape `answer_data` makes."""
    built = {name: "text" for name in BUILT_TEXTS}
    built.update(source_sha256=SEED_SHA256, identifier=f"urn:sha256:{SEED_SHA256}", created=CREATED,
                 provenance=dict.fromkeys(PROVENANCE_FIELDS))
    files = {edition_file(key, edition): b"data" for edition in sent_for(key).editions()}
    files[edition_file(key, "txt")] = SEED
    return {"kind": "rendered", "key": key, "seconds": 1.5, "files": files, "built": built}


def test_the_honest_answer_is_accepted_as_the_editions_asked_for():
    answer = _Answer.check(honest_answer(), sent_for())
    assert set(answer.rendered.files) == set(CATALOGUED_EDITIONS)
    assert answer.rendered.built.source_sha256 == SEED_SHA256


def _changed(answer: dict, path: tuple, value) -> dict:
    answer = copy.deepcopy(answer)
    *outer, last = path
    target = answer
    for name in outer:
        target = target[name]
    if value is _DELETE:
        target.pop(last, None)
    else:
        target[last] = value
    return answer


_DELETE = object()
_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                       | st.binary(max_size=8),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=3),
                       max_leaves=8)
_PATHS = st.sampled_from([
    ("kind",), ("key",), ("seconds",), ("files",), ("built",), ("extra",),
    ("files", "seed.pdf"), ("files", "seed.txt"), ("files", "../x"), ("files", "index.html"),
    ("built", "source_sha256"), ("built", "identifier"), ("built", "created"), ("built", "title"),
    ("built", "provenance"), ("built", "provenance", "author"), ("built", "extra"),
])


@settings(max_examples=300, deadline=None)
@given(path=_PATHS, value=st.one_of(st.just(_DELETE), _VALUES))
def test_any_other_answer_is_refused_and_never_raises_anything_else(path, value):
    """Change any one field of an honest answer (or drop it, or add one): the driver either
    refuses it with _Refused or, if it is still exactly what was asked, accepts it; it
    never raises anything else, and never accepts other files or another key."""
    answer = _changed(honest_answer(), path, value)
    try:
        accepted = _Answer.check(answer, sent_for())
    except _Refused as refused:
        assert "\n" not in str(refused)
        return
    if accepted.rendered is not None:
        assert answer["key"] == "seed"
        assert set(answer["files"]) == set(honest_answer()["files"])
        assert answer["files"]["seed.txt"] == SEED


@settings(max_examples=200, deadline=None)
@given(answer=_VALUES)
def test_anything_that_is_not_an_answer_is_refused(answer):
    with pytest.raises(_Refused):
        _Answer.check(answer, sent_for())

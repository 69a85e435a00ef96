"""Keys (issue 15, finding 2): a seed's key depends on its file name alone, and two seeds
never share a folder, whatever their names; spelling the seeds folder another way
rebuilds and withdraws nothing."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.run import REAL_SEED, json_lines, seedpress

from convert.archive.job import find_seeds
from convert.archive.keys import assign_keys, safe_key, seed_key

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
#: What a file name on Linux may hold: anything but "/" and NUL.
NAME_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00")
STEMS = st.one_of(
    st.text(NAME_CHARACTERS, min_size=1, max_size=40),
    st.text("ab -_.", min_size=1, max_size=12),
    st.sampled_from(["index", "INDEX", "opds", "SHA256SUMS", "con", "a b", "a-b", "a_b", "-a", "a-", ".x"]),
)


@st.composite
def adversarial_names(draw) -> list[str]:
    """Seed file names, with others named exactly like the keys the first ones get
    (and like those keys' keys), the way an attacker would pick them."""
    stems = draw(st.lists(STEMS, min_size=1, max_size=8))
    for stem in list(stems):
        key = safe_key(stem)
        stems += [key, safe_key(key), f"{key}-{'0' * 16}", key.upper()]
    names = {f"{stem}.txt" for stem in stems if stem not in (".", "..")}
    return sorted(name for name in names if len(name.encode("utf-8", "surrogatepass")) <= 255)


@settings(max_examples=300, deadline=None)
@given(names=adversarial_names(), order=st.randoms())
def test_keys_are_unique_safe_and_depend_on_the_name_alone(names, order):
    keys = {name: seed_key(name) for name in names}
    assert len(set(keys.values())) == len(names), keys
    for key in keys.values():
        assert KEY.fullmatch(key) and len(key) <= 100 and key.lower() not in ("index", "opds", "sha256sums")
    shuffled = names[:]
    order.shuffle(shuffled)
    # The same name gets the same key whatever else is there and in whatever order.
    assert {name: seed_key(name) for name in shuffled[: len(shuffled) // 2]} == {
        name: keys[name] for name in shuffled[: len(shuffled) // 2]}


@settings(max_examples=100, deadline=None)
@given(names=adversarial_names())
def test_convert_keys_stay_unique_across_folders(names):
    paths = [f"a/{name}" for name in names] + [f"b/{name}" for name in names]
    keys = assign_keys(paths)
    assert len(set(keys.values())) == len(paths)


def test_find_seeds_gives_the_same_keys_however_the_folder_is_spelled(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name in ("a b.txt", "a-b-c8687a08.txt", "ünï cödé.txt", "index.txt"):
        (seeds / name).write_text("Title\n\nText.\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    spellings = [Path("seeds"), seeds, Path("./seeds/"), Path("seeds/../seeds"), tmp_path / "." / "seeds"]
    found = [{seed.path.name: seed.key for seed in find_seeds(spelling)} for spelling in spellings]
    assert all(keys == found[0] for keys in found)
    assert len(set(found[0].values())) == 4


@pytest.mark.slow
def test_three_seeds_named_after_each_other_get_three_folders(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    first_key = seed_key("a b.txt")
    names = ["a b.txt", "a-b-c8687a08.txt", f"{first_key}.txt", "a-b-c8687a08-46606023.txt"]
    for index, name in enumerate(names):
        (seeds / name).write_text(f"Title {index}\n\nSummary {index}.\n", "utf-8")
    dist = tmp_path / "dist"
    result = seedpress("archive", seeds, "--dist", dist, "--json")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)[:-1]
    assert len({line["key"] for line in lines}) == len(names) == len(lines)
    assert seedpress("verify", "--dist", dist).returncode == 0
    assert "0 built, 4 unchanged" in seedpress("archive", seeds, "--dist", dist).stdout


@pytest.mark.slow
def test_spelling_the_seeds_folder_another_way_rebuilds_and_withdraws_nothing(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copyfile(REAL_SEED, seeds / "same name.txt")
    shutil.copyfile(REAL_SEED, seeds / REAL_SEED.name)
    dist = tmp_path / "dist"
    # As the crontab spells it (relative, from the working directory), then as the unit does.
    assert seedpress("archive", "seeds", "--dist", dist, cwd=tmp_path).returncode == 0
    # Every run takes the lock, records itself in the catalog and writes its metrics; nothing else may change.
    def written() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for path in dist.rglob("*") if path.is_file()
                and path.relative_to(dist).parts[0] not in (".lock", ".catalog.sqlite", ".metrics")}

    before = written()
    again = seedpress("archive", os.path.abspath(seeds), "--dist", dist)
    assert again.returncode == 0, again.stderr
    assert "0 built, 2 unchanged, 0 failed, 0 withdrawn" in again.stdout
    assert written() == before

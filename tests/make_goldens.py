"""Regenerate the expected masters: tests/data/NAME.md from tests/data/NAME.txt.

Run by `make goldens`. Review what changed with `git diff tests/data` before
committing: a golden that changes is a master that every user gets differently.
"""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA.parent.parent))

from convert.document.master import to_markdown  # noqa: E402
from convert.document.seed import read_seed  # noqa: E402


def regenerate(folder: Path = DATA) -> dict[str, str]:
    """Write NAME.md for every NAME.txt in `folder`; say for each whether it was new, changed or not."""
    status = {}
    for seed in sorted(folder.glob("*.txt")):
        golden = seed.with_suffix(".md")
        master = to_markdown(read_seed(seed)).encode("utf-8")
        before = golden.read_bytes() if golden.exists() else None
        if before != master:
            golden.write_bytes(master)
        status[golden.name] = "new" if before is None else "changed" if before != master else "unchanged"
    return status


def main() -> int:
    for name, state in regenerate().items():
        print(f"{state:>9}  tests/data/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

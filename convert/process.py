"""What every child process seedpress starts shares: no inherited address-space limit,
and a stop that never leaves a zombie."""

from __future__ import annotations

import resource
import subprocess


def unlimit_address_space() -> None:
    """In a child about to exec: lift the worker's address-space limit to its hard limit."""
    # GHC's runtime reserves a terabyte of address space up front, so the
    # worker's RLIMIT_AS must not reach pandoc (nor Java); +RTS -M bounds pandoc's heap.
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def stop_child(process: subprocess.Popen) -> None:
    """Kill a child that speaks over its stdin and stdout, reap it and close its pipes."""
    process.kill()
    process.wait()
    process.stdin.close()
    process.stdout.close()

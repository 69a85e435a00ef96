"""What the probes of tests/test_faults.py share: the processes they start to set an
address-space limit or a malloc setting on themselves import this."""

from __future__ import annotations

#: A seed as DESIGN §1 writes one, as short as one can be.
SMALL_SEED = b"A title\n\nA summary.\n\nRead the original article here\n\nA comment.\n"


def address_space() -> int:
    """This process's address space in bytes (VmSize), what RLIMIT_AS bounds."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))

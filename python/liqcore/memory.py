"""The kernel's cache of freed large blocks.

The liquidation and cascade kernels allocate large working and output arrays (4 MiB and more)
on every call. Fresh memory is page-faulted and zeroed by the operating system when it is
first written, which on a small VM runs at about a third of the copy bandwidth; so when such a
block is freed, the kernel keeps it (at most 64 blocks, 256 MiB in all, the oldest returned to
the system first) and hands it to the next call that needs about that much. A loop of calls
(a scenario sweep, a stress run, a benchmark) then stops paying for fresh memory after its
first call. Results do not depend on it.

The blocks held count in the process's resident memory. :func:`release_memory` returns them
to the system, e.g. after a large one-off run in a long-lived process. Only on Linux (where
the kernel maps these blocks itself); elsewhere, and in sanitizer builds, nothing is held.
"""

from __future__ import annotations

from liqcore import _core


def held_memory() -> int:
    """Bytes of freed large blocks the kernel holds for reuse (0 when it holds none)."""
    return int(_core.held_memory())


def release_memory() -> int:
    """Return every held block to the operating system; the number of bytes returned.

    Later calls allocate fresh blocks (and hold them again when they are freed). Safe to call
    at any time, from any thread.

    >>> import liqcore as lq
    >>> lq.release_memory() >= 0
    True
    >>> lq.held_memory()
    0
    """
    return int(_core.release_memory())

"""Exercise the public API (valid calls and C++ error paths) for a leak checker, then exit.

Run it under valgrind or the ASan build with LeakSanitizer; docs/HARDENING.md has both commands.
It reuses the workloads of tests/test_leaks.py (every main entry point and its error paths),
each called ``LIQCORE_LEAK_ITERATIONS`` times (default 3: a leak checker needs one call, not a
loop), plus the calls of the garbage-at-the-API child (tests/garbage_child.py), ~13,700.
``LIQCORE_LEAK_PART``: ``all`` (default), ``work`` (the workloads only) or ``garbage``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import garbage_child  # noqa: E402
import test_leaks  # noqa: E402


def main() -> None:
    n = int(os.environ.get("LIQCORE_LEAK_ITERATIONS", "3"))
    part = os.environ.get("LIQCORE_LEAK_PART", "all")
    with tempfile.TemporaryDirectory() as d:
        if part in ("all", "work"):
            for name, fn in test_leaks._workloads(Path(d)).items():
                for _ in range(n):
                    fn()
                print("ok", name, flush=True)
        if part not in ("all", "garbage"):
            return
        os.chdir(d)
        for fname, text in garbage_child.SAMPLE_FILES.items():
            Path(fname).write_text(text)
        with open(os.devnull, "w") as out:
            for target, fn in garbage_child.public_callables():
                if not target.endswith("to_frame"):
                    garbage_child.fuzz_callable(out, target, fn)
        print("ok garbage calls", flush=True)


if __name__ == "__main__":
    main()

"""Garbage at the public API, in a subprocess: it must survive with clean errors (issue 6).

tests/garbage_child.py discovers every public callable of liqcore (functions, classes, methods
and properties of a valid instance) and calls each with ~40 kinds of garbage per parameter (the
other parameters valid), then with every parameter garbage at once. This test requires:

* the child exits normally (exit code 0, no signal: no segfault, abort or sanitizer report;
  under the CI sanitizer job the child inherits the preloaded ASan runtime);
* every call either returns or raises ValueError / TypeError (FileNotFoundError for a loader's
  missing file), warnings included (the child turns them into errors);
* when one parameter is garbage, the error message names that parameter.

Defects found in others' code are listed in KNOWN_DEFECTS, pinned by a strict xfail each (a fix
turns it into an XPASS failure: then delete its entry) and reported in docs/HARDENING.md.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHILD = Path(__file__).with_name("garbage_child.py")
CLEAN = {"ok", "ValueError", "TypeError"}
IO_CLEAN = {"FileNotFoundError", "IsADirectoryError"}  # documented for a missing file

# (target regex, param regex, what is wrong): "unclean" (another exception type or a warning)
# or "unnamed" (ValueError/TypeError whose message does not name the parameter).
KNOWN_DEFECTS: dict[str, tuple[str, str, str]] = {
    # every finding so far is fixed (docs/HARDENING.md, Findings); add new ones here
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    work = tmp_path_factory.mktemp("garbage")
    out = work / "calls.jsonl"
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(out)], cwd=work, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    assert proc.returncode == 0, (
        f"garbage child died (exit code {proc.returncode}; negative = signal)\n"
        f"stdout tail: {proc.stdout[-2000:]}\nstderr tail: {proc.stderr[-4000:]}"
    )
    assert proc.stdout.strip().endswith("garbage child done"), proc.stdout[-2000:]
    assert proc.stderr == "", proc.stderr[-4000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


# Errors about a relation between arguments may name the relation instead of the argument.
ALIASES: list[tuple[str, str, str]] = [
    (r"liqcore\.Book(\(\)\.apply)?", r"bid_px|bid_qty|ask_px|ask_qty|px|qty|side", "book"),
    # the assets are the collateral file's columns: "coll.csv has no column(s) 'x' (has ...)"
    (r"liqcore\.io\.read_collateral", r"assets", "column"),
    (r"liqcore\.(Account)?Engine\(\)\.apply", r"px|qty|side", "book"),
]


def _names(r: dict[str, Any]) -> list[str]:
    names = [r["param"]]
    for target, param, alias in ALIASES:
        if re.fullmatch(target, r["target"]) and re.fullmatch(param, r["param"]):
            names.append(alias)
    return names


def _problem(r: dict[str, Any]) -> str | None:
    """"unclean", "unnamed" or None for one call."""
    reads_files = r["target"].startswith(("liqcore.io.", "liqcore.replay"))
    clean = CLEAN | (IO_CLEAN if reads_files else set())
    if r["target"].endswith(".take") and r["type"] == "IndexError":  # as numpy.take
        clean = clean | {"IndexError"}
        r = {**r, "outcome": "ValueError"}  # and it must name the argument
    if r["outcome"] not in clean:
        return "unclean"
    named = any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", r["message"]) for n in _names(r))
    if r["outcome"] in ("ValueError", "TypeError") and r["param"] not in ("*", "") and not named:
        return "unnamed"
    return None


def _known(r: dict[str, Any], problem: str) -> str | None:
    for key, (target, param, what) in KNOWN_DEFECTS.items():
        if what == problem and re.fullmatch(target, r["target"]) \
                and re.fullmatch(param, r["param"]):
            return key
    return None


def _fmt(r: dict[str, Any]) -> str:
    return (f"{r['target']}({r['param']}={r['garbage']}) -> {r['type']}: {r['message'][:160]}")


def test_covers_the_public_api(rows: list[dict[str, Any]]) -> None:
    targets = {r["target"] for r in rows}
    for required in ("liqcore.adl.queue", "liqcore.adl.risk_aware", "liqcore.io.read_book",
                     "liqcore.io.read_binance_depth", "liqcore.io.write_book",
                     "liqcore.synthetic_book", "liqcore.Book", "liqcore.Book().sweep_many",
                     "liqcore.Book().execute", "liqcore.Book().apply", "liqcore.liquidation_price",
                     "liqcore.equity", "liqcore.MarginTiers", "liqcore.Positions",
                     "liqcore.Policy", "liqcore.liquidate"):
        assert required in targets
    assert len(rows) > 1000
    assert any(r["outcome"] == "ok" for r in rows)  # the valid parts of calls do run


def test_only_clean_exceptions(rows: list[dict[str, Any]]) -> None:
    bad = [_fmt(r) for r in rows if _problem(r) == "unclean" and not _known(r, "unclean")]
    assert not bad, "\n".join(bad[:40])


def test_errors_name_the_argument(rows: list[dict[str, Any]]) -> None:
    bad = [_fmt(r) for r in rows if _problem(r) == "unnamed" and not _known(r, "unnamed")]
    assert not bad, "\n".join(bad[:40])


@pytest.mark.parametrize(
    "key",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=f"known defect {k}"))
     for k in KNOWN_DEFECTS],
)
def test_known_defect_is_fixed(rows: list[dict[str, Any]], key: str) -> None:
    hits = [_fmt(r) for r in rows if (p := _problem(r)) and _known(r, p) == key]
    assert not hits, "\n".join(hits[:10])

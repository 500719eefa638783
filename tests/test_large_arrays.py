"""Kernels' large working and output arrays (>= 4 MiB: mapped in huge pages, memory.hpp).

Small runs never reach that path; these runs do (over 524,288 liquidations fill a 4 MiB column
of doubles), and must give what the same positions give in small runs: a takeover
liquidation's outcome per position does not depend on the other positions, so a population
tiled 2**k times gives its small run's per-position results tiled. Stage 1 of CI runs them
through the huge-page mapping; the sanitizer stage, where memory.hpp takes every block from
malloc so that AddressSanitizer sees it, checks the same large arrays for memory errors.
"""

from __future__ import annotations

import os

import liqcore as lq
import numpy as np
import pytest

MARK = 50_000.0
TILE = 2**16  # 65,536 positions tiled 9 times: 589,824 liquidations


def _underwater(n: int, seed: int) -> lq.Positions:
    rng = np.random.default_rng(seed)
    side = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    size = side * rng.uniform(0.01, 2.0, n)
    entry = MARK * (1.0 + side * rng.uniform(0.06, 0.3, n))  # every one under water at MARK
    margin = np.abs(size) * entry / rng.uniform(20.0, 100.0, n)
    return lq.Positions(size, entry, margin)


def _tiled(pos: lq.Positions, reps: int) -> lq.Positions:
    return lq.Positions(
        np.tile(pos.size, reps), np.tile(pos.entry_price, reps), np.tile(pos.margin, reps)
    )


def test_large_liquidation_lists_match_small_runs() -> None:
    small = _underwater(TILE, seed=3)
    reps = 9
    big = _tiled(small, reps)
    book = lq.synthetic_book(MARK, levels=50, seed=0)
    policy = lq.Policy(execution="takeover")
    r_small = lq.liquidate(small, book, MARK, policy, insurance_fund=0.0)
    r_big = lq.liquidate(big, book, MARK, policy, insurance_fund=0.0)
    assert r_small.n_liquidated == TILE
    assert r_big.n_liquidated == reps * TILE
    assert r_big.liquidations.closed.nbytes >= 4 << 20  # the huge-page path
    for name in ("closed", "vwap", "deficit", "surplus", "fee"):
        want = np.tile(getattr(r_small, name), reps)  # per position, input order
        np.testing.assert_array_equal(getattr(r_big, name), want, err_msg=name)
    np.testing.assert_array_equal(r_big.liquidated, np.ones(reps * TILE, dtype=bool))
    scale = float(np.sum(np.abs(big.size)) * MARK)
    assert abs(r_big.ledger.balance) <= 1e-9 * scale


@pytest.mark.parametrize("residual", ["none", "socialize"])
def test_large_cascade_is_deterministic_and_balances(residual: str) -> None:
    """A cascade liquidating over 524,288 positions (and, with a residual rule, per-position
    state of 6e5 doubles from the first round): same bits twice, a balancing ledger, and every
    liquidated position counted once."""
    pos = _underwater(600_000, seed=5)
    book = lq.synthetic_book(MARK, levels=200, seed=1)
    policy = lq.Policy(residual=residual)
    a = lq.simulate_cascade(pos, book, MARK, -0.01, policy=policy, insurance_fund=1e6)
    b = lq.simulate_cascade(pos, book, MARK, -0.01, policy=policy, insurance_fund=1e6)
    assert a.n_liquidated >= 524_288
    for name in ("closed", "deficit", "insurance_draw", "shortfall"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert int(np.count_nonzero(a.liquidated)) == a.n_liquidated
    scale = float(np.sum(np.abs(pos.size)) * MARK)
    assert abs(a.ledger.balance) <= 1e-9 * scale


def test_reused_blocks_give_the_same_results() -> None:
    """A large call after another one of about the same size runs in the blocks the first one
    freed (memory.hpp, BlockCache): blocks holding the other population's values, not zeros.
    Its results must be those of the small run, as on fresh memory."""
    book = lq.synthetic_book(MARK, levels=50, seed=0)
    policy = lq.Policy(execution="takeover")
    reps = 9
    other, small = _underwater(reps * TILE, seed=11), _underwater(TILE, seed=12)
    big = _tiled(small, reps)
    lq.release_memory()
    warm = lq.liquidate(other, book, MARK, policy, insurance_fund=0.0)
    assert warm.liquidations.closed.nbytes >= 4 << 20
    del warm  # its output columns and scratch are freed: held for reuse where blocks are cached
    if lq._core._caches_blocks:
        assert lq.held_memory() >= 4 << 20
    r_small = lq.liquidate(small, book, MARK, policy, insurance_fund=0.0)
    r_big = lq.liquidate(big, book, MARK, policy, insurance_fund=0.0)
    for name in ("closed", "vwap", "deficit", "surplus", "fee"):
        np.testing.assert_array_equal(
            getattr(r_big, name), np.tile(getattr(r_small, name), reps), err_msg=name
        )
    np.testing.assert_array_equal(r_big.liquidated, np.ones(reps * TILE, dtype=bool))


def test_release_memory_returns_the_held_blocks() -> None:
    book = lq.synthetic_book(MARK, levels=50, seed=0)
    r = lq.liquidate(_underwater(9 * TILE, seed=13), book, MARK, lq.Policy(execution="takeover"))
    assert r.liquidations.closed.nbytes >= 4 << 20
    del r
    held = lq.held_memory()
    if lq._core._caches_blocks:
        assert held >= 4 << 20
        assert held <= 256 << 20  # the cache's bound
        assert held % (2 << 20) == 0  # whole 2 MiB pages
    else:
        assert held == 0
    assert lq.release_memory() == held
    assert lq.held_memory() == 0
    assert lq.release_memory() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reuses_and_allocates_large_blocks() -> None:
    """The cache of freed blocks survives fork() (its lock is taken across it, as malloc's):
    a child inherits the held blocks and runs a large liquidation on them, and the parent
    goes on."""
    book = lq.synthetic_book(MARK, levels=50, seed=0)
    policy = lq.Policy(execution="takeover")
    pos = _underwater(9 * TILE, seed=14)
    want = lq.liquidate(pos, book, MARK, policy, insurance_fund=0.0)
    want_deficit = want.deficit.copy()
    del want  # its blocks are held (where blocks are cached) when the child starts
    pid = os.fork()
    if pid == 0:  # the child: exit code 0 only if its run matches the parent's
        code = 1
        try:
            got = lq.liquidate(pos, book, MARK, policy, insurance_fund=0.0)
            code = 0 if np.array_equal(got.deficit, want_deficit) else 3
            del got
            lq.release_memory()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    again = lq.liquidate(pos, book, MARK, policy, insurance_fund=0.0)
    np.testing.assert_array_equal(again.deficit, want_deficit)

"""liqcore.distributed: a stress test on a Dask LocalCluster is bit-identical to a local run,
and survives failing tasks and a worker killed mid-run. Skipped when dask is missing."""

from __future__ import annotations

import os
import threading
import time

import liqcore as lq
import numpy as np
import pytest
from liqcore.stress import SCENARIO_FIELDS

distributed = pytest.importorskip("distributed")
ld = pytest.importorskip("liqcore.distributed")

MARK = 60_000.0


def population(n, seed=1):
    rng = np.random.default_rng(seed)
    size = rng.choice([-1.0, 1.0], n) * rng.lognormal(-2.0, 1.0, n)
    entry = MARK * np.exp(rng.normal(0.0, 0.02, n))
    margin = np.abs(size) * entry / rng.uniform(2.0, 40.0, n)
    return lq.Positions(size, entry, margin)


@pytest.fixture(scope="module")
def market():
    return population(3_000), lq.Book.synthetic(MARK, levels=400)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def assert_same(a, b):
    assert len(a) == len(b)
    for f in SCENARIO_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_bit_identical_to_a_local_run(market, client):
    pos, book = market
    kw = dict(insurance_fund=1e5, scenarios=45, steps=12, seed=3, resilience=0.1)
    local = lq.stress_test(pos, book, MARK, lq.Policy.binance(), **kw)
    for chunk in (1, 7, 100):
        remote = ld.stress_test(client, pos, book, MARK, lq.Policy.binance(), chunk=chunk, **kw)
        assert_same(local, remote)
    assert np.any(local.deficit > 0)


def test_user_paths(market, client):
    pos, book = market
    paths = MARK * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, (9, 6)), axis=1))
    assert_same(
        lq.stress_test(pos, book, MARK, paths=paths),
        ld.stress_test(client, pos, book, MARK, paths=paths, chunk=2),
    )


FAILED_ONCE: set[int] = set()


def flaky_run_chunk(spec, token, first, count, threads):
    """Fails on the first attempt of every chunk (module level: pickled by reference, so the
    in-process workers share FAILED_ONCE)."""
    if first not in FAILED_ONCE:
        FAILED_ONCE.add(first)
        raise RuntimeError("worker lost")
    return ORIGINAL_RUN_CHUNK(spec, token, first, count, threads)


ORIGINAL_RUN_CHUNK = ld._run_chunk


def test_a_failing_task_is_retried(market, client, monkeypatch):
    pos, book = market
    FAILED_ONCE.clear()
    monkeypatch.setattr(ld, "_run_chunk", flaky_run_chunk)
    kw = dict(scenarios=20, steps=5, seed=9)
    remote = ld.stress_test(client, pos, book, MARK, chunk=6, retries=1, **kw)
    assert {0, 6, 12, 18} == FAILED_ONCE
    assert_same(lq.stress_test(pos, book, MARK, **kw), remote)


@pytest.mark.skipif(
    os.environ.get("LIQCORE_HYPOTHESIS_PROFILE") == "sanitize",
    reason="fault injection across worker processes: under the ASan stage the workers run "
    "instrumented and slow, and the kill races the run; stage 1 covers it",
)
def test_a_worker_killed_mid_run(market):
    """Two worker processes; one is killed while it holds chunks. The scheduler reruns them
    elsewhere and the result is still complete and bit-identical."""
    pos, book = market
    kw = dict(insurance_fund=5e4, scenarios=1_000, steps=100, seed=21)
    local = lq.stress_test(pos, book, MARK, **kw)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        c.wait_for_workers(2)
        out = {}
        runner = threading.Thread(
            target=lambda: out.update(r=ld.stress_test(c, pos, book, MARK, chunk=10, **kw))
        )
        runner.start()
        deadline = time.time() + 30
        while time.time() < deadline and not any(c.processing().values()):  # once tasks are running
            time.sleep(0.005)
        assert "r" not in out  # still running
        victim = next(iter(cluster.workers.values()))
        victim.process.process.kill()  # SIGKILL: no goodbye to the scheduler
        runner.join(300)
        assert not runner.is_alive(), "the distributed run did not finish after a worker died"
        remote = out["r"]
    assert_same(local, remote)


def test_errors(market, client):
    pos, book = market
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        ld.stress_test("tcp://nowhere", pos, book, MARK, scenarios=1)
    with pytest.raises(ValueError, match=r"chunk must be >= 1 \(got 0\)"):
        ld.stress_test(client, pos, book, MARK, scenarios=1, chunk=0)
    with pytest.raises(ValueError, match="sigma must be finite"):
        ld.stress_test(client, pos, book, MARK, scenarios=1, sigma=float("nan"))


# ---- cross-margin accounts over several markets (lq.stress_test(pf, acc, mk, ...)) ------------

ACCOUNT_FIELDS = (
    "deficit",
    "insurance_draw",
    "residual",
    "insurance_fund",
    "liquidated_notional",
    "fees",
    "largest_loss",
    "second_largest_loss",
    "liquidated_accounts",
    "rounds",
    "converged",
    "final_marks",
    "deficit_by_market",
    "contagion",
)


@pytest.fixture(scope="module")
def accounts():
    rng = np.random.default_rng(2)
    n, A = 120, 50
    marks = np.array([MARK, 3_000.0])
    books = [lq.Book.synthetic(p, levels=40, seed=k) for k, p in enumerate(marks)]
    mk = lq.Markets(marks, [0.01, 0.02], books=books)
    market = rng.integers(0, 2, n)
    pf = lq.Portfolio(
        rng.integers(0, A, n),
        market,
        rng.choice([-1.0, 1.0], n) * rng.lognormal(0.0, 1.0, n) * 500.0 / marks[market],
        marks[market] * np.exp(rng.normal(0.0, 0.02, n)),
    )
    return pf, lq.Accounts(rng.uniform(10.0, 100.0, (A, 1)), [1.0]), mk


def assert_same_accounts(a, b):
    assert len(a) == len(b)
    for f in ACCOUNT_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


def test_accounts_bit_identical_to_a_local_run(accounts, client):
    pf, acc, mk = accounts
    kw = dict(
        insurance_fund=100.0,
        scenarios=19,
        steps=5,
        seed=2**64 - 5,
        sigma=[0.04, 0.06],
        correlation=[[1.0, 0.7], [0.7, 1.0]],
        resilience=0.1,
    )
    local = lq.stress_test(pf, acc, mk, **kw)
    assert isinstance(local, lq.AccountStressResult)
    assert np.any(local.deficit > 0)
    for chunk in (1, 7):
        remote = ld.stress_test(client, pf, acc, mk, chunk=chunk, **kw)
        assert_same_accounts(local, remote)
    moves = np.random.default_rng(0).normal(0.0, 0.02, (9, 4, 2))
    paths = mk.marks * np.exp(np.cumsum(moves, axis=1))
    assert_same_accounts(
        lq.stress_test(pf, acc, mk, paths=paths),
        ld.stress_test(client, pf, acc, mk, paths=paths, chunk=4),
    )


def test_accounts_errors(accounts, client):
    pf, acc, mk = accounts
    with pytest.raises(ValueError, match="correlation must be symmetric with a unit diagonal"):
        ld.stress_test(client, pf, acc, mk, scenarios=2, correlation=[[1.0, 0.5], [0.4, 1.0]])
    with pytest.raises(TypeError, match=r"accounts must be a liqcore\.Accounts"):
        ld.stress_test(client, pf, mk, acc, scenarios=2)
    pos, book = population(10), lq.Book.synthetic(MARK, levels=10)
    with pytest.raises(ValueError, match="correlation applies to a Portfolio"):
        ld.stress_test(client, pos, book, MARK, scenarios=2, correlation=[[1.0]])

"""Stress tests past one machine: a stress test's scenarios on a Dask cluster.

Needs the optional extra ``dask[distributed]`` (``pip install "liqcore[dask]"``).

:func:`stress_test` takes the arguments of :func:`liqcore.stress_test` plus a Dask ``client``
and ``chunk`` (scenarios per task): isolated positions ``(positions, book, mark, ...)`` or, as
:func:`liqcore.stress_test_accounts`, cross-margin accounts over several markets
``(portfolio, accounts, markets, ...)``. Scenario ``s`` draws from the counter-based stream
``(seed, s)`` wherever it runs, and each task runs the scenarios ``[first, first + count)`` of
its chunk, so the result is **bit-identical** to a local run with the same arguments, whatever
the number of workers, threads per task or chunk size.

Fault tolerance: a task is a pure function of (inputs, chunk id) and its key names the chunk
(``liqcore-stress-<token>-<chunk>``); results are assembled by chunk index. When a worker dies
mid-run, the scheduler reruns the chunks it held on another worker: no scenario is lost, and
none is counted twice, since a chunk's result is stored once under its key whichever attempt
produced it. A task that raises is retried up to ``retries`` times.

The inputs (positions, book, policy, paths) are scattered to the workers once; each worker
builds the kernel's plan (positions sorted by liquidation price; for accounts, the inputs
checked and the correlation's Cholesky factor) once per run and keeps it while that run's
chunks arrive.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Optional, Union, overload

from liqcore import _core
from liqcore._arrays import count as _count
from liqcore._arrays import threads as _threads
from liqcore.book import Book
from liqcore.contagion import AccountStressResult, AccountStressSpec
from liqcore.cross_margin import Accounts, Markets, Portfolio
from liqcore.policy import Policy
from liqcore.positions import Positions
from liqcore.stress import (
    StressOptions,
    StressResult,
    StressSpec,
    _options_spec,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

_Spec = Union[StressSpec, AccountStressSpec]

__all__ = ["stress_test"]

# Per worker process: the plans of the most recent runs, by run token.
_PLANS: OrderedDict[str, Any] = OrderedDict()
_PLANS_LOCK = threading.Lock()
_PLANS_KEPT = 2


def _plan(token: str, spec: _Spec) -> Any:
    with _PLANS_LOCK:
        plan = _PLANS.get(token)
        if plan is None:
            plan = spec.plan()
            _PLANS[token] = plan
            while len(_PLANS) > _PLANS_KEPT:
                _PLANS.popitem(last=False)
        return plan


def _run_chunk(
    spec: _Spec, token: str, first: int, count: int, threads: int
) -> _core.StressPart | _core.AccountStressPart:
    """One task: scenarios [first, first + count) of the run ``token`` (the kernel's chunk of
    per-scenario columns, picklable: it travels back from the worker)."""
    return spec.run(_plan(token, spec), first, count, threads)


def _client(client: Any) -> Any:
    try:
        from distributed import Client, get_client
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            'liqcore.distributed needs dask.distributed: pip install "liqcore[dask]"'
        ) from None
    if client is None:
        return get_client()
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client (got {type(client).__name__})")
    return client



class _DaskOptions(StressOptions, total=False):
    chunk: int
    threads_per_task: Optional[int]
    retries: int


@overload
def stress_test(
    client: Any,
    positions: Positions,
    book: Book,
    mark: float,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    **options: Unpack[_DaskOptions],
) -> StressResult: ...


@overload
def stress_test(
    client: Any,
    portfolio: Portfolio,
    accounts: Accounts,
    markets: Markets,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    **options: Unpack[_DaskOptions],
) -> AccountStressResult: ...


def stress_test(
    client: Any,
    positions: Positions | Portfolio,
    book: Book | Accounts,
    mark: float | Markets,
    /,
    policy: Optional[Policy] = None,
    insurance_fund: float = 0.0,
    scenarios: Optional[int] = None,
    horizon: float = 1.0,
    *,
    chunk: int = 1_000,
    threads_per_task: Optional[int] = 1,
    retries: int = 2,
    **options: Any,
) -> StressResult | AccountStressResult:
    """:func:`liqcore.stress_test` with its scenarios run on a Dask cluster.

    ``client``: a ``dask.distributed.Client`` (None: the current one). ``chunk``: scenarios per
    task (>= 1). ``threads_per_task``: kernel threads per task (default 1: Dask runs one task per
    worker thread; None: all cores of the worker). ``retries``: reruns of a failed task. The
    other arguments are those of :func:`liqcore.stress_test`, in one form per engine (``client`` and
    the three after it positional-only): isolated positions ``(client, positions, book, mark,
    ...)``, returning a :class:`liqcore.StressResult`, or cross-margin accounts ``(client,
    portfolio, accounts, markets, ...)`` (then ``sigma`` may be one per market and
    ``correlation`` applies, as :func:`liqcore.stress_test_accounts`), returning an
    :class:`liqcore.AccountStressResult`. The result is bit-identical to the local run's.
    """
    cl = _client(client)
    spec: _Spec = _options_spec(
        positions, book, mark, policy, insurance_fund, scenarios, horizon, options
    )
    if isinstance(spec, AccountStressSpec):
        spec.plan()  # checks what only the kernel checks (the correlation), before any task
    size = _count("chunk", chunk, minimum=1)
    th = _threads(threads_per_task)
    tries = _count("retries", retries)
    token = uuid.uuid4().hex
    [spec_future] = cl.scatter([spec], broadcast=True, hash=False)
    firsts = list(range(0, spec.scenarios, size))
    futures = [
        cl.submit(
            _run_chunk,
            spec_future,
            token,
            first,
            min(size, spec.scenarios - first),
            th,
            key=f"liqcore-stress-{token}-{k}",
            pure=False,
            retries=tries,
        )
        for k, first in enumerate(firsts)
    ]
    try:
        parts = cl.gather(futures)
    finally:
        for f in futures:
            f.release()
        spec_future.release()
    return spec.result(parts)

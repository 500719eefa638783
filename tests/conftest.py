"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, 100 examples), ``ci`` (derandomized so CI is repeatable),
``sanitize`` (fewer examples: the ASan/UBSan build runs several times slower). Choose with
``LIQCORE_HYPOTHESIS_PROFILE``; under ``CI=true`` the default is ``ci``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, settings

_common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("ci", max_examples=100, derandomize=True, **_common)
settings.register_profile("sanitize", max_examples=25, derandomize=True, **_common)
settings.load_profile(
    os.environ.get("LIQCORE_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


def pytest_configure(config: Any) -> None:
    # Hypothesis imports mypy_extensions while it reports a *failing* example; its
    # DeprecationWarning would turn the report into an INTERNALERROR under filterwarnings=error.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


@pytest.fixture
def on_one_core() -> Callable[[Callable[[], Any]], Any]:
    """``on_one_core(f)``: f() with this process restricted to one CPU (its affinity restored
    after), for kernels that split work over every core the process may use."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs CPU affinity")

    def run(f: Callable[[], Any]) -> Any:
        cpus = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {min(cpus)})
            return f()
        finally:
            os.sched_setaffinity(0, cpus)

    return run


@pytest.fixture
def spread_positions() -> Callable[[int, int], Any]:
    """``spread_positions(n, seed)``: n positions, both sides, around a mark of 100 (sizes
    lognormal, entries within a few percent, leverage 5x..60x): some liquidatable at 98."""
    import liqcore as lq
    import numpy as np

    def make(n: int, seed: int) -> Any:
        rng = np.random.default_rng(seed)
        size = rng.choice([-1.0, 1.0], n) * rng.lognormal(0.0, 1.0, n)
        entry = 100.0 * rng.lognormal(0.0, 0.03, n)
        margin = np.abs(size) * entry / rng.uniform(5.0, 60.0, n)
        return lq.Positions(size=size, entry_price=entry, margin=margin)

    return make

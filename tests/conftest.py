"""Shared test configuration.

Hypothesis profiles: ``dev`` (default, 100 examples), ``ci`` (derandomized so CI is repeatable),
``sanitize`` (fewer examples: the ASan/UBSan build runs several times slower). Choose with
``LIQCORE_HYPOTHESIS_PROFILE``; under ``CI=true`` the default is ``ci``.
"""

from __future__ import annotations

import os
from typing import Any

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

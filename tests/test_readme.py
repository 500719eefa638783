"""The README's tour runs as written and shows the numbers it claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("```python") + len("```python")
    return text[start : text.index("```", start)]


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests")
def test_readme_tour_runs() -> None:
    ns: dict[str, object] = {}
    exec(compile(_tour(), str(README), "exec"), ns)
    lq = ns["lq"]
    np.testing.assert_allclose(
        lq.liquidation_price(ns["size"], ns["entry"], ns["margin"], mmr=0.004),  # type: ignore[attr-defined]
        [9036.1446, 10956.1753],
        atol=1e-4,
    )
    assert list(ns["tiers"].cum) == [0.0, 50.0, 1300.0]  # type: ignore[attr-defined]
    assert abs(ns["res"].ledger.balance) < 1e-6  # type: ignore[attr-defined]
    crowd = ns["crowd"]
    q = crowd.size  # type: ignore[attr-defined]
    longs, shorts = np.abs(q[q > 0]).sum() * 60_000.0, np.abs(q[q < 0]).sum() * 60_000.0
    assert longs + shorts == pytest.approx(5e8, rel=1e-9)
    assert longs / shorts == pytest.approx(1.2, rel=1e-9)
    assert len(ns["lmap"]) == 40 and len(ns["curve"]) == 3  # type: ignore[arg-type]
    h = ns["h"]
    assert h.equity[0] == pytest.approx(10.0) and h.maintenance[0] == pytest.approx(50.0)  # type: ignore[attr-defined]
    assert lq.fillable_price(ns["pf"], ns["acc"], ns["mk"], position=1) == pytest.approx(2976.0)  # type: ignore[attr-defined]

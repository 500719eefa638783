"""Figures of results (matplotlib, the ``plot`` extra: ``pip install liqcore[plot]``).

* :func:`cascade` -- the mark round by round after the shock, and per round the liquidated
  notional, the cumulative bad debt and the insurance fund.
* :func:`stress` -- the distribution of the deficit over the scenarios (with VaR, ES and the
  insurance fund) and of the lowest / highest mark.

Each function draws one figure and saves it to ``path`` (any format matplotlib writes, by the
suffix; PNG at 110 dpi). matplotlib is imported when a function is called, with the
non-interactive Agg backend; without it the call raises ImportError naming ``liqcore[plot]``.
A folder of ``path`` that does not exist raises FileNotFoundError before anything is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from liqcore.cascade import CascadeResult
    from liqcore.stress import StressResult

__all__ = ["cascade", "stress"]

PathLike = Union[str, "os.PathLike[str]"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install liqcore[plot]") from None
    return plt


def _check_folder(path: PathLike) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder {str(folder)!r} for {os.fspath(path)!r}")


@contextmanager
def _saved_figure(path: PathLike, *args: Any, **kwargs: Any) -> Iterator[Any]:
    """The axes of a new figure (``plt.subplots(*args, **kwargs)``), saved to ``path`` at 110 dpi
    when the block ends; the figure is closed either way."""
    _check_folder(path)
    plt = _pyplot()
    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield axes
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _result(obj: Any, path: PathLike) -> None:
    """A result's own figure (``obj.plot(ax=...)``: a liquidation map, a deficit curve, a replay)
    saved to ``path``."""
    with _saved_figure(path, figsize=(9, 5)) as ax:
        obj.plot(ax=ax)


def _draw_cascade(
    ax1: Any,
    ax2: Any,
    res: CascadeResult,
    *,
    shock_label: str,
    mark_label: str,
    title: str,
    money_label: str | None,
) -> None:
    """The cascade chart of :func:`cascade` (also the HTML report's): the mark per round on
    ``ax1``; liquidated notional, cumulative bad debt and insurance fund per round on ``ax2``."""
    rounds = np.arange(len(res.marks))
    ax1.plot([-0.6, 0], [res.initial_mark, res.shocked_mark], "k--", lw=1, label=shock_label)
    ax1.step(rounds, res.marks, where="post", marker="o", ms=3, label="mark after round")
    ax1.axhline(res.initial_mark, color="grey", lw=0.6)
    ax1.set_ylabel(mark_label)
    ax1.set_title(title)
    ax1.legend(loc="best")
    tr = res.trace
    ax2.bar(tr.round, tr.notional, color="tab:red", alpha=0.7, label="liquidated notional")
    ax2.set_ylabel("liquidated notional")
    ax2.set_xlabel("round")
    ax3 = ax2.twinx()
    ax3.plot(
        tr.round, np.cumsum(tr.bad_debt), color="tab:blue", marker=".", label="cumulative bad debt"
    )
    ax3.plot(tr.round, tr.insurance_fund, color="tab:green", marker=".", label="insurance fund")
    if money_label is not None:
        ax3.set_ylabel(money_label)
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax3.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, loc="best")


def cascade(res: CascadeResult, path: PathLike) -> None:
    """The cascade ``res``: mark per round (top), liquidated notional, cumulative deficit and
    insurance fund per round (bottom)."""
    with _saved_figure(path, 2, 1, figsize=(8, 6.5), sharex=True) as (ax1, ax2):
        _draw_cascade(
            ax1,
            ax2,
            res,
            shock_label="exogenous shock",
            mark_label="mark price",
            title=f"Liquidation cascade: shock {res.shock:+.1%} -> move {res.move:+.2%} "
            f"in {res.rounds} rounds",
            money_label="money",
        )


def stress(st: StressResult, path: PathLike, q: float = 0.99) -> None:
    """The stress test ``st``: deficit distribution of the scenarios with a deficit (log scale,
    with VaR and ES at level ``q`` and the insurance fund; top) and the lowest / highest mark
    of each scenario relative to the initial mark (bottom)."""
    with _saved_figure(path, 2, 1, figsize=(8, 6.5)) as (ax1, ax2):
        d = st.deficit
        positive = d[d > 0]
        share = positive.size / max(1, d.size)
        if positive.size:
            bins = np.logspace(np.log10(positive.min()), np.log10(positive.max()) + 1e-9, 40)
            ax1.hist(positive, bins=bins, color="tab:red", alpha=0.7)
            ax1.set_xscale("log")
        ax1.axvline(max(st.var(q), 1e-12), color="k", ls="--", label=f"VaR {q:g}")
        es = st.expected_shortfall(q)
        ax1.axvline(max(es, 1e-12), color="k", ls=":", label=f"ES {q:g}")
        if st.insurance_fund_before > 0:
            ax1.axvline(st.insurance_fund_before, color="tab:green", lw=2, label="insurance fund")
        ax1.set_xlabel("deficit per scenario (scenarios with D > 0)")
        ax1.set_ylabel("scenarios")
        ax1.set_title(
            f"Deficit distribution: {d.size:,} scenarios, {share:.1%} with a deficit, "
            f"P(D > IF) = {st.depletion_probability:.2%}"
        )
        ax1.legend(loc="best")
        ax2.hist(
            st.min_mark / st.mark - 1.0, bins=50, color="tab:blue", alpha=0.7, label="lowest mark"
        )
        ax2.hist(
            st.max_mark / st.mark - 1.0, bins=50, color="tab:orange", alpha=0.5,
            label="highest mark",
        )
        ax2.set_xlabel("move from the initial mark (cascades included)")
        ax2.set_ylabel("scenarios")
        ax2.legend(loc="best")

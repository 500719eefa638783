"""Cross margin (docs/model.md §6): markets, collateral accounts, portfolios, account health and
dYdX's slice rules.

Units and conventions
---------------------
Everything is valued in the venue's quote currency (the currency of ``asset_prices``).

* **Markets**: per market a mark price ``P`` (quote per base), a maintenance rate or tiers, a
  contract type and optionally a :class:`liqcore.Book`. Linear: ``PnL = q·(P − EP)``, notional
  ``|q|·P``, ``MM = notional·mmr_k − cum_k``. Inverse (face value ``C`` quote per contract, size in
  contracts): PnL and MM are in coin, ``q·C·(1/EP − 1/P)`` and ``|q|·C/P·mmr_k − cum_k`` (tiers by
  coin notional), and are **valued in quote at the market's mark** (times ``P``). The quote value
  of an inverse position's notional is ``|q|·C``.
* **Accounts**: collateral balances ``c[a, k]`` of account ``a`` in asset ``k`` (negative: a
  borrow). Risk value ``Σ_k c·price_k·w``, with asset weight ``w = 1 − haircut_k`` for a positive
  balance, optionally reduced with size by Drift's IMF size discount
  ``w = min(1 − haircut, 1.1 / (1 + imf_k·sqrt(c)))`` (``c`` in asset units; Drift v2
  ``calculate_size_discount_asset_weight``, drift-labs protocol-v2 / driftpy ``math/spot_market``),
  and ``w = 1`` for a negative balance (a liability at face value). The market value (no
  haircut) is what a liquidation settles: see :func:`liqcore.liquidate_accounts`.
* **Portfolio**: positions ``(account, market, size, entry_price)``; account and market ids are
  row indices into Accounts and Markets; any number of positions per account.

Health per account: ``TNC = collateral risk value + Σ PnL``, ``TMMR = Σ MM``, liquidatable iff
``TMMR > 0`` and ``TMMR > TNC`` (dYdX's rule, the one :func:`liqcore.liquidate_accounts` uses), ``margin_ratio = TMMR/TNC``, and ``distance = (TNC − TMMR)/Σ notional``:
the fraction of its gross notional the account can still lose before it is liquidatable (to
first order, the uniform adverse relative move of every mark that liquidates it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from liqcore import _core
from liqcore._arrays import (
    F64,
    I64,
    Column,
    as_f64,
    as_i64,
    check_finite,
    common_length,
    first_bad,
    frame_columns,
    tier_columns,
)
from liqcore._arrays import readonly as _readonly
from liqcore.book import Book
from liqcore.result import Rows, _columns

__all__ = [
    "Accounts",
    "Health",
    "Markets",
    "Portfolio",
    "fillable_price",
    "health",
    "slice_bankruptcy_price",
]

CONTRACTS = ("linear", "inverse")
#: dYdX v4-chain ``LiquidationsConfig_Default``:
#: ``spread_to_maintenance_margin_ratio_ppm = 100_000``
#: (x/clob/types/liquidations_config.go); with ``bankruptcy_adjustment_ppm = 1_000_000`` (BA 1).
DYDX_SMMR = 0.1


def _per_market(name: str, x: Any, n: int, **checks: Any) -> F64:
    """One value per market (a scalar stands for all), checked by ``check_finite(**checks)``."""
    a = as_f64(name, x)
    if a.ndim == 0:
        a = np.full(n, float(a), dtype=np.float64)
    elif a.shape[0] != n:
        raise ValueError(f"{name} has length {a.shape[0]}, expected {n} (the number of markets)")
    check_finite(name, a, **checks)
    return a


def _prices(name: str, x: Any, what: str) -> F64:
    """One price per market or asset (at least one), finite and > 0."""
    p = np.atleast_1d(as_f64(name, x))
    if p.shape[0] == 0:
        raise ValueError(f"{name} must have at least one {what}")
    check_finite(name, p, positive=True)
    return p


def _market_list(name: str, value: Any, n: int, expected: str) -> list[Any]:
    """The entries of a per-market list (any sequence but a string) of length ``n``."""
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {expected} (got {type(value).__name__})")
    out = list(value)
    if len(out) != n:
        raise ValueError(f"{name} has length {len(out)}, expected {n} (the number of markets)")
    return out


def _tiers(name: str, value: Any) -> tuple[F64, F64]:
    """(floors, rates) of a MarginTiers-like object, a mapping with 'floors' and 'mmr', or a
    sequence of (floor, mmr) pairs; validated like liqcore.MarginTiers."""
    floors, rates = tier_columns(name, value)
    f = np.atleast_1d(as_f64(f"{name}.floors", floors))
    r = np.atleast_1d(as_f64(f"{name}.mmr", rates))
    if f.shape[0] == 0:
        raise ValueError(f"{name} must have at least one tier")
    if r.shape[0] != f.shape[0]:
        raise ValueError(
            f"{name}.mmr has length {r.shape[0]}, expected {f.shape[0]} (the length of floors)"
        )
    check_finite(f"{name}.floors", f)
    if f[0] != 0.0:
        raise ValueError(f"{name}.floors[0] must be 0 (got {f[0]!r})")
    bad = first_bad(np.diff(f) > 0)
    if bad is not None:
        raise ValueError(
            f"{name}.floors[{bad + 1}] must be strictly increasing (got {f[bad + 1]!r})"
        )
    check_finite(f"{name}.mmr", r, nonnegative=True, at_most=1.0)
    return np.ascontiguousarray(f), np.ascontiguousarray(r)


class Markets:
    """The perpetual markets of a venue: marks, maintenance margin, contract type, books.

    Parameters
    ----------
    marks : array-like, one per market
        Mark prices in quote per base, finite and > 0.
    mmr : float or array-like, optional
        Flat maintenance rates in ``[0, 1]``, one per market (a scalar for all); used where
        ``tiers`` gives None. Exclusive with ``tiers``: passing both when every market has
        tiers (so that ``mmr`` would be ignored) is a ValueError.
    tiers : optional
        Maintenance tiers: one ``liqcore.MarginTiers``-like object (``floors``, ``mmr``), mapping
        or sequence of ``(floor, mmr)`` pairs for every market, or a list with one such entry
        (or None) per market. Tiers are by notional in the margin currency (coin for inverse).
    books : list of Book, optional
        One order book per market; needed by :func:`liqcore.liquidate_accounts` with
        ``execution="book"``. The books are not changed by anything here.
    contract : "linear" | "inverse", or one per market
    contract_size : float or array-like
        Face value of an inverse contract in quote (ignored for linear markets), finite > 0.
    """

    __slots__ = ("_books", "_contract", "_contract_size", "_core", "_marks", "_mmr", "_tiers")

    def __init__(
        self,
        marks: Any,
        mmr: Any = None,
        *,
        tiers: Any = None,
        books: Sequence[Book] | None = None,
        contract: str | Sequence[str] = "linear",
        contract_size: Any = 1.0,
    ) -> None:
        p = _prices("marks", marks, "market")
        n = int(p.shape[0])
        rates: F64 | None = (
            None if mmr is None else _per_market("mmr", mmr, n, nonnegative=True, at_most=1.0)
        )
        if tiers is None:
            tier_list: list[Any] = [None] * n
        elif (hasattr(tiers, "floors") and hasattr(tiers, "mmr")) or isinstance(tiers, Mapping):
            tier_list = [tiers] * n
        else:
            tier_list = _market_list(
                "tiers", tiers, n, "None, a MarginTiers, or a list with one entry per market"
            )
        if rates is not None and tier_list and all(t is not None for t in tier_list):
            raise ValueError(
                "mmr and tiers are exclusive: every market has tiers, so mmr would be ignored "
                "(give mmr only for the markets whose tiers entry is None)"
            )
        parsed: list[tuple[F64, F64] | None] = []
        for m, t in enumerate(tier_list):
            if t is None:
                if rates is None:
                    raise ValueError(
                        f"market {m} has neither mmr nor tiers: pass mmr= (one rate, or one per "
                        "market) or tiers="
                    )
                parsed.append(None)
            else:
                parsed.append(_tiers(f"tiers[{m}]", t))
        if isinstance(contract, str):
            kinds = [contract] * n
        else:
            kinds = _market_list("contract", contract, n, "'linear', 'inverse' or a list of them")
        for m, k in enumerate(kinds):
            if k not in CONTRACTS:
                raise ValueError(f"contract[{m}] must be one of 'linear', 'inverse' (got {k!r})")
        cs = _per_market("contract_size", contract_size, n, positive=True)
        if books is not None:
            books = _market_list("books", books, n, "a list of liqcore.Book, one per market")
            for m, b in enumerate(books):
                if not isinstance(b, Book):
                    raise TypeError(f"books[{m}] must be a liqcore.Book (got {type(b).__name__})")
        self._marks: F64 = np.ascontiguousarray(p)
        self._mmr = rates
        self._tiers = parsed
        self._books: list[Book] | None = None if books is None else list(books)
        self._contract = tuple(kinds)
        self._contract_size: F64 = cs
        floors = [t[0] if t is not None else np.zeros(1) for t in parsed]
        rs = [t[1] if t is not None else np.array([rates[m]]) for m, t in enumerate(parsed)]  # type: ignore[index]
        self._core = _core.CrossMarkets(
            self._marks,
            np.array([CONTRACTS.index(k) for k in kinds], dtype=np.int64),
            cs,
            floors,
            rs,
        )

    def __len__(self) -> int:
        return int(self._marks.shape[0])

    marks = Column[F64]("_marks", "Mark prices (read-only view).")

    @property
    def contract(self) -> tuple[str, ...]:
        return self._contract

    contract_size = Column[F64]("_contract_size")

    @property
    def books(self) -> list[Book] | None:
        """The books (the list is a copy; the Book objects are shared), or None."""
        return None if self._books is None else list(self._books)

    def tiers(self, market: int) -> tuple[F64, F64]:
        """(floors, rates) of a market's maintenance schedule (one tier at floor 0 when flat)."""
        t = self._tiers[market]
        if t is not None:
            return t[0].copy(), t[1].copy()
        assert self._mmr is not None
        return np.zeros(1), np.array([self._mmr[market]])

    def with_marks(self, marks: Any) -> Markets:
        """The same markets at other marks (books, margin and contracts kept)."""
        out = Markets.__new__(Markets)
        p = np.atleast_1d(as_f64("marks", marks))
        if p.shape[0] != len(self):
            raise ValueError(
                f"marks has length {p.shape[0]}, expected {len(self)} (the number of markets)"
            )
        check_finite("marks", p, positive=True)
        out._marks = np.ascontiguousarray(p)
        out._mmr, out._tiers, out._books = self._mmr, self._tiers, self._books
        out._contract, out._contract_size = self._contract, self._contract_size
        floors = [self.tiers(m)[0] for m in range(len(self))]
        rs = [self.tiers(m)[1] for m in range(len(self))]
        out._core = _core.CrossMarkets(
            out._marks,
            np.array([CONTRACTS.index(k) for k in self._contract], dtype=np.int64),
            self._contract_size,
            floors,
            rs,
        )
        return out

    def __repr__(self) -> str:
        books = "" if self._books is None else ", with books"
        return f"Markets(n={len(self)}, marks={self._marks.tolist()!r}{books})"


class Accounts:
    """Collateral accounts: balances of every account in every collateral asset.

    Parameters
    ----------
    collateral : 2-D array-like (accounts × assets)
        Balances in asset units, finite, any sign (negative: borrowed, valued at full price). A 1-D
        array is one balance per account when there is a single asset.
    asset_prices : array-like, one per asset
        Prices in quote, finite and > 0.
    haircuts : float or array-like, one per asset
        In ``[0, 1)``; a positive balance counts ``price·(1 − haircut)`` towards health.
    size_discount : array-like, one per asset, optional
        Drift's IMF factors (>= 0): the weight of a positive balance ``c`` becomes
        ``min(1 − haircut, 1.1/(1 + imf·sqrt(c)))``, so large balances count for less.
    """

    __slots__ = ("_collateral", "_haircuts", "_imf", "_prices")

    def __init__(
        self, collateral: Any, asset_prices: Any, haircuts: Any = 0.0, *, size_discount: Any = None
    ) -> None:
        p = _prices("asset_prices", asset_prices, "asset")
        k = int(p.shape[0])
        h = as_f64("haircuts", haircuts)
        if h.ndim == 0:
            h = np.full(k, float(h))
        elif h.shape[0] != k:
            raise ValueError(
                f"haircuts has length {h.shape[0]}, expected {k} (the length of asset_prices)"
            )
        check_finite("haircuts", h, nonnegative=True, below=1.0)
        imf = np.zeros(0)
        if size_discount is not None:
            imf = np.atleast_1d(as_f64("size_discount", size_discount))
            if imf.shape[0] != k:
                raise ValueError(
                    f"size_discount has length {imf.shape[0]}, expected {k} "
                    "(the length of asset_prices)"
                )
            check_finite("size_discount", imf, nonnegative=True)
        c = as_f64("collateral", collateral, ndim=2)
        if c.ndim == 0:
            c = c.reshape(1, 1)
        if c.ndim == 1:
            if k != 1:
                raise ValueError(
                    f"collateral must be 2-D (accounts x assets) with {k} assets "
                    f"(got shape {c.shape})"
                )
            c = c.reshape(-1, 1)
        if c.shape[1] != k:
            raise ValueError(
                f"collateral has {c.shape[1]} asset column(s), expected {k} "
                "(the length of asset_prices)"
            )
        bad = first_bad(np.isfinite(c))
        if bad is not None:
            a, j = divmod(bad, k)
            raise ValueError(f"collateral[{a}, {j}] must be finite (got {c.flat[bad]!r})")
        self._collateral = np.ascontiguousarray(c)
        self._prices: F64 = np.ascontiguousarray(p)
        self._haircuts: F64 = np.ascontiguousarray(h)
        self._imf: F64 = np.ascontiguousarray(imf, dtype=np.float64)

    def __len__(self) -> int:
        return int(self._collateral.shape[0])

    collateral = Column[npt.NDArray[np.float64]](
        "_collateral", "Balances, accounts × assets (read-only view)."
    )

    asset_prices = Column[F64]("_prices")

    haircuts = Column[F64]("_haircuts")

    @property
    def size_discount(self) -> F64 | None:
        return None if self._imf.shape[0] == 0 else _readonly(self._imf)

    def _args(self) -> tuple[F64, F64, F64, F64]:
        return self._collateral.reshape(-1), self._prices, self._haircuts, self._imf

    def __repr__(self) -> str:
        return f"Accounts(n={len(self)}, assets={self._prices.shape[0]})"


_PORTFOLIO_COLUMNS = ("account", "market", "size", "entry_price")


class Portfolio:
    """Positions of cross-margin accounts: ``account`` and ``market`` ids (int64 row indices into
    :class:`Accounts` and :class:`Markets`), signed ``size`` (+ long, − short; base units, or
    contracts for inverse markets) and ``entry_price`` (quote per base, finite > 0).

    Any number of positions per account, in any order (sorted by account is fastest for
    :func:`health`). A scalar stands for every position; arrays of different lengths are an error.
    Whether the ids exist is checked against the Accounts and Markets they are used with.
    """

    __slots__ = ("_account", "_entry_price", "_market", "_size")

    def __init__(self, account: Any, market: Any, size: Any, entry_price: Any) -> None:
        ids = {"account": as_i64("account", account), "market": as_i64("market", market)}
        vals = {"size": as_f64("size", size), "entry_price": as_f64("entry_price", entry_price)}
        n = common_length({**ids, **vals})
        fi = {k: (np.full(n, v[()], dtype=np.int64) if v.ndim == 0 else v) for k, v in ids.items()}
        fv = {
            k: (np.full(n, v[()], dtype=np.float64) if v.ndim == 0 else v) for k, v in vals.items()
        }
        for name, a in fi.items():
            bad = first_bad(a >= 0)
            if bad is not None:
                raise ValueError(f"{name}[{bad}] must be a non-negative id (got {int(a[bad])})")
        check_finite("size", fv["size"])
        check_finite("entry_price", fv["entry_price"], positive=True)
        self._account: I64 = fi["account"]
        self._market: I64 = fi["market"]
        self._size: F64 = fv["size"]
        self._entry_price: F64 = fv["entry_price"]

    def __len__(self) -> int:
        return int(self._size.shape[0])

    account = Column[I64]("_account")

    market = Column[I64]("_market")

    size = Column[F64]("_size")

    entry_price = Column[F64]("_entry_price")

    def _args(self) -> tuple[I64, I64, F64, F64]:
        return self._account, self._market, self._size, self._entry_price

    @classmethod
    def from_frame(cls, frame: Any) -> Portfolio:
        """From a pandas DataFrame (or a mapping of columns): account, market, size, entry_price."""
        _, col = frame_columns(frame, _PORTFOLIO_COLUMNS)
        return cls(*map(col, _PORTFOLIO_COLUMNS))

    def to_frame(self) -> Any:
        """A pandas DataFrame with columns account, market, size, entry_price."""
        return _columns(self, _PORTFOLIO_COLUMNS)

    def __repr__(self) -> str:
        return f"Portfolio(n={len(self)}, accounts={np.unique(self._account).shape[0]})"


@dataclass(frozen=True, eq=False)
class Health(Rows):
    """Health of every account (arrays of length ``len(accounts)``, quote currency).

    collateral: risk value of the collateral (after haircuts). equity: ``TNC`` = collateral +
    Σ PnL at the marks. maintenance: ``TMMR`` = Σ MM. notional: Σ |notional|. margin_ratio:
    ``TMMR/TNC`` (+inf when ``TNC <= 0`` unless both are 0, then 0). distance:
    ``(TNC − TMMR)/notional`` (±inf for an account without positions). liquidatable:
    ``TMMR > 0 and TMMR > TNC`` (dYdX).
    """

    _ROWS = "equity"

    collateral: F64
    equity: F64
    maintenance: F64
    notional: F64
    margin_ratio: F64
    distance: F64
    liquidatable: npt.NDArray[np.bool_]

    @property
    def tnc(self) -> F64:
        """Alias of ``equity`` (dYdX's total net collateral)."""
        return self.equity

    @property
    def tmmr(self) -> F64:
        """Alias of ``maintenance`` (dYdX's total maintenance margin requirement)."""
        return self.maintenance

    @property
    def excess(self) -> F64:
        """``TNC − TMMR``: equity above maintenance (negative: liquidatable)."""
        return self.equity - self.maintenance

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per account."""
        return super().to_frame()

    def __repr__(self) -> str:
        return f"Health(accounts={len(self)}, liquidatable={int(self.liquidatable.sum())})"


def _check_kinds(pf: Any, acc: Any, mk: Any) -> None:
    if not isinstance(pf, Portfolio):
        raise TypeError(f"pf must be a liqcore.Portfolio (got {type(pf).__name__})")
    if not isinstance(acc, Accounts):
        raise TypeError(f"acc must be a liqcore.Accounts (got {type(acc).__name__})")
    if not isinstance(mk, Markets):
        raise TypeError(f"mk must be a liqcore.Markets (got {type(mk).__name__})")


def _accounts_form(
    caller: str, first: Any, second: Any, third: Any
) -> tuple[Portfolio, Accounts, Markets] | None:
    """The accounts form ``(portfolio, accounts, markets, ...)`` of a call of ``caller``, an entry
    point serving both engines: the three arguments when the first is a Portfolio, None when it
    is not (the isolated form); TypeError when a Portfolio comes without Accounts and Markets."""
    if not isinstance(first, Portfolio):
        return None
    if not isinstance(second, Accounts) or not isinstance(third, Markets):
        raise TypeError(
            f"with a Portfolio, {caller} takes (portfolio, accounts, markets, ...): accounts must "
            f"be a liqcore.Accounts and markets a liqcore.Markets (got {type(second).__name__}, "
            f"{type(third).__name__})"
        )
    return first, second, third


def health(pf: Portfolio, acc: Accounts, mk: Markets) -> Health:
    """Health of every account of ``acc`` at the marks of ``mk`` (see the module docstring).

    One streaming pass over the positions (GIL released). Positions sorted by account keep each
    account's sums in registers and write its outputs once; unsorted positions are handled too
    (sums scattered into the account arrays, then one pass over the accounts). Raises ValueError
    naming ``account[i]`` / ``market[i]`` for an id with no account or market.
    """
    _check_kinds(pf, acc, mk)
    r = _core.cross_health(mk._core, *acc._args(), *pf._args())
    return Health(
        collateral=r.collateral,
        equity=r.equity,
        maintenance=r.maintenance,
        notional=r.notional,
        margin_ratio=r.margin_ratio,
        distance=r.distance,
        liquidatable=r.liquidatable.view(np.bool_),
    )


def _positions(pf: Portfolio, position: Any) -> tuple[I64, bool]:
    if isinstance(position, (bool, float)):
        raise TypeError(
            f"position must be an int or an array of ints (got {type(position).__name__})"
        )
    p = as_i64("position", position)
    scalar = p.ndim == 0
    p = np.atleast_1d(p)
    n = len(pf)
    bad = first_bad((p >= 0) & (p < n))
    if bad is not None:
        at = "" if scalar else f"[{bad}]"
        raise ValueError(f"position{at} must be a position index in [0, {n}) (got {int(p[bad])})")
    return np.ascontiguousarray(p), scalar


def _real(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number (got {type(x).__name__})")
    v = float(x)
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be finite and >= 0 (got {v!r})")
    return v


def slice_bankruptcy_price(
    pf: Portfolio, acc: Accounts, mk: Markets, position: Any, delta: Any
) -> Any:
    """dYdX's bankruptcy price, per unit, of closing ``delta`` of a position (docs/model.md §6).

    ``delta`` is the signed change of the position: opposite in sign to its size and at most its
    size (``-0.1`` closes 0.1 of a long). The slice carries its share of account equity: its
    bankruptcy quote is ``BP(Δ) = −ΔNNV − TNC·(|Δ|/|q|)·MM/TMMR`` (received for the slice, paid
    when negative; ``ΔNNV = Δ·P`` for linear markets, ``MM`` the position's requirement), and
    the price per unit is ``−BP(Δ)/Δ``. Where MM is proportional to size (flat or open-interest
    scaled margin fractions) ``(|Δ|/|q|)·MM`` is dYdX's ``|ΔMMR|``; with size tiers the slice
    takes the pro-rata part of its position's share, as an isolated position's slice does
    (``Δ/Q`` of its equity). When ``TMMR = 0`` the share is by notional.
    In general (inverse markets) it is the price at which the slice's quote gain vs the mark is
    ``−TNC·share``; a long solvent at every price gets 0, an inverse position that no price makes
    bankrupt gets +inf. Uses health's ``TNC`` (after haircuts).

    ``position`` is an index (or array of indices) into ``pf``; ``delta`` a number or an array of
    the same length. Returns a float for a scalar position, else an array.
    """
    _check_kinds(pf, acc, mk)
    p, scalar = _positions(pf, position)
    d = np.atleast_1d(as_f64("delta", delta))
    if d.shape[0] != 1 and d.shape[0] != p.shape[0]:
        raise ValueError(
            f"delta has length {d.shape[0]}, expected {p.shape[0]} (the length of position)"
        )
    dd = np.broadcast_to(d, p.shape)
    q = pf._size[p]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(dd) & (dd != 0) & (np.sign(dd) == -np.sign(q)) & (np.abs(dd) <= np.abs(q))
    bad = first_bad(ok)
    if bad is not None:
        at = "" if scalar or d.shape[0] == 1 else f"[{bad}]"
        raise ValueError(
            f"delta{at} must reduce position {int(p[bad])} (size {float(q[bad])!r}): "
            "nonzero, of the "
            f"opposite sign, and |delta| <= |size| (got {float(dd[bad])!r})"
        )
    out = _core.slice_bankruptcy_prices(
        mk._core, *acc._args(), *pf._args(), p, np.ascontiguousarray(d)
    )
    return float(out[0]) if scalar else out


def fillable_price(
    pf: Portfolio,
    acc: Accounts,
    mk: Markets,
    position: Any,
    ba: float = 1.0,
    smmr: float = DYDX_SMMR,
) -> Any:
    """dYdX's fillable (liquidation limit) price of a position (docs/model.md §2):
    ``(PNNV − ABR·SMMR·PMMR)/PS`` with ``ABR = clamp(BA·(1 − TNC/TMMR), 0, 1)`` (1 when
    ``TMMR = 0``), PNNV the position's signed notional, PMMR its maintenance margin, PS its signed
    size; for inverse markets the same relative spread ``P·(1 − s·ABR·SMMR·MM/notional)``.

    Defaults are dYdX v4-chain's ``LiquidationsConfig_Default``: BA 1 (``bankruptcy_adjustment_ppm
    = 1_000_000``) and SMMR 0.1 (``spread_to_maintenance_margin_ratio_ppm = 100_000``). (Note:
    :class:`liqcore.Policy` defaults ``smmr`` to 1.5, from dYdX's help-centre genesis text.)
    """
    _check_kinds(pf, acc, mk)
    p, scalar = _positions(pf, position)
    out = _core.fillable_prices(
        mk._core, *acc._args(), *pf._args(), p, _real("ba", ba), _real("smmr", smmr)
    )
    return float(out[0]) if scalar else out

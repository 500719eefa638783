"""A live liquidation engine over cross-margin accounts in several markets (docs/model.md §4b, §6).

:class:`AccountEngine` holds the state of a venue -- positions of cross-margin accounts with
stable int64 ids, the accounts' collateral, one mark and one order book per market, and one
insurance fund -- and is fed events: marks (:meth:`AccountEngine.on_mark` for one market,
:meth:`AccountEngine.on_marks` for several at once), book updates (:meth:`AccountEngine.apply`,
:meth:`AccountEngine.set_book`), position changes (:meth:`AccountEngine.open`,
:meth:`AccountEngine.update`, :meth:`AccountEngine.close`) and collateral changes
(:meth:`AccountEngine.deposit`, :meth:`AccountEngine.withdraw`).

**What an event does.** After the event's change (all the marks of ``on_marks`` first: the
update is atomic), if any account is liquidatable at the current marks (``TMMR > TNC`` with an
open position, :func:`liqcore.health`), the engine runs exactly
``liqcore.liquidate_accounts(engine.portfolio, engine.accounts, engine.markets, policy,
engine.insurance_fund)`` -- one pass, however many markets moved -- and carries its outcome
forward:

* positions: a position of a liquidated account with ``closed >= |size|`` is removed; one
  closed in part keeps ``size - s·closed`` (``s`` its sign) at its entry price;
* collateral: every liquidated account is settled in the *settlement asset* (``settlement_asset``,
  asset 0 by default): its balance there changes by ``(equity_after - E_rest) / price``, where
  ``equity_after`` is the result's ``accounts.equity_after`` (0 for a bankrupt account) and
  ``E_rest`` the market value the account still holds, ``Σ_k c_k·price_k`` (its balances before,
  summed in asset order) plus the PnL at the marks of the positions it keeps, in quote
  (``q·(P - EP)`` linear, ``q·C·(1/EP - 1/P)·P`` inverse), summed in the engine's order. The
  account's market equity is then exactly what the liquidation left it. Its other balances
  are unchanged;
* ADL / socialization: an account charged ``result.adl`` on its positions pays their sum (in
  position order) from its settlement-asset balance, which may become negative (a borrow);
* the books become ``result.books`` and the fund ``result.insurance_fund``.

Each event runs at most one pass. An account that the pass's charges leave liquidatable is
liquidated at the next event (any mark, or any position or collateral change).

**Results.** Every event returns a :class:`liqcore.AccountLiquidationResult` whose rows are the
engine's open positions in the engine's order when the pass ran (:attr:`AccountEngine.last_ids`
holds their ids; ``account`` and ``market`` are the account and market ids). When nothing
triggers the result is *empty*: zero position rows, zero account rows, per-market outcomes of
zeros, the current fund and books, built in O(markets) from a template. Results share the
engine's books; the engine copies a book before changing it (copy on write).

**Cost of a quiet mark.** The engine keeps, per account, a conservative bound: with ``X`` its
excess ``TNC - TMMR`` at reference marks ``P°`` (less a rounding slack of ``1e-9`` of the
account's gross values) and ``L_m`` a Lipschitz constant of its excess in market ``m``'s mark
(``Σ |q|·(1 + max mmr)`` linear; ``Σ |q|·C/EP + max|cum|`` inverse, ``cum`` the tiers'
maintenance amounts), the account cannot be liquidatable while every market it trades stays in
``P°_m ± X/(K·L_m)`` (``K`` the number of its markets): its excess falls by at most
``Σ_m L_m·|ΔP_m| < X``. Each market keeps the lower and the upper ends of those windows sorted
(the index of :class:`liqcore.Engine`), so a mark inside every window of its market costs O(1)
in the positions and accounts (a comparison with the extreme ends; the empty result lists the
books, O(markets)). A mark past some ends takes the accounts whose window it
left, computes their exact health (O(their positions)), re-centres their windows at the
current marks and runs the pass only if one of them is liquidatable. An account already at or
below the slack (or liquidatable: left so by an ADL charge) has an always-open window and is
checked exactly at every event, whatever market moves. A position or collateral change
re-centres its account's windows (O(its positions)) and checks the always-open ones. A pass
costs what ``liquidate_accounts`` costs on the whole state, O(positions + accounts + levels).
The windows are only a filter: the decision is always ``liquidate_accounts``'s own rule.

**Resilience** (``resilience=r > 0``): as for :class:`liqcore.Engine`, per market: after a
pass, at the end of every event, each level of a depleted book recovers ``q <- q + r·(q0 - q)``
toward the market's base book (the book given, set or updated by ``apply``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from liqcore._arrays import F64, I64, as_f64, finite, first_bad
from liqcore.account_liquidation import (
    AccountLiquidationResult,
    AccountOutcomes,
    MarketOutcomes,
    liquidate_accounts,
)
from liqcore.book import Book
from liqcore.cross_margin import Accounts, Health, Markets, Portfolio, health
from liqcore.engine import (
    _MERGE,
    _check_book,
    _empty_ledger,
    _nonnegative,
    _PositionSlots,
    _positive,
    _real,
    _Recovery,
    _resilience,
    _SideIndex,
)
from liqcore.liquidation import _policy
from liqcore.policy import Policy
from liqcore.result import _frozen

__all__ = ["AccountEngine"]

_NO_IDS: I64 = np.empty(0, np.int64)
_NO_IDS.flags.writeable = False
_SLACK = 1e-9  # relative rounding slack of an account's excess (a filter, never a decision)


def _index_id(name: str, x: Any, n: int, what: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an int (got {type(x).__name__})")
    v = int(x)
    if not 0 <= v < n:
        raise ValueError(f"{name} must be {what} in [0, {n}) (got {v})")
    return v


class AccountEngine(_PositionSlots):
    """The live state of a cross-margin venue's liquidation engine; see the module docstring.

    Parameters
    ----------
    portfolio : Portfolio
        The open positions at the start (account and market ids are rows of ``accounts`` and
        ``markets``).
    accounts : Accounts
        Collateral balances, asset prices, haircuts and size discounts. Balances are copied and
        carried; asset prices, haircuts and size discounts stay fixed.
    markets : Markets
        The markets: their marks are the marks at the start; margin and contracts stay fixed;
        the books (copied) are needed with ``policy.execution == "book"``.
    policy : Policy, optional
        The liquidation rules (``Policy()`` by default; its margin fields are ignored, each
        market carries its own, as in :func:`liqcore.liquidate_accounts`).
    insurance_fund : float
        The fund's balance, in quote (finite, >= 0).
    ids : array-like of int64, optional
        One distinct id per position; by default ``0 .. n-1``. :meth:`open` gives new positions
        ``max(id) + 1`` onwards.
    settlement_asset : int
        The collateral asset (column of ``accounts``) in which liquidations settle and ADL
        charges are paid (default 0).
    resilience : float
        In [0, 1]: the books' recovery rate per event (see :class:`liqcore.Engine`).

    The constructor does not liquidate: the first event does, if anything is liquidatable.
    """

    _COLUMNS = (("_q", 0.0), ("_ep", 1.0), ("_acc", 0), ("_mkt", 0), ("_ids", 0),
                ("_alive", False))
    _acc: I64
    _mkt: I64

    def __init__(
        self,
        portfolio: Portfolio,
        accounts: Accounts,
        markets: Markets,
        *,
        policy: Policy | None = None,
        insurance_fund: float = 0.0,
        ids: Any = None,
        settlement_asset: int = 0,
        resilience: float = 0.0,
    ) -> None:
        for name, obj, kind in (("portfolio", portfolio, Portfolio),
                                ("accounts", accounts, Accounts), ("markets", markets, Markets)):
            if not isinstance(obj, kind):
                raise TypeError(f"{name} must be a liqcore.{kind.__name__} "
                                f"(got {type(obj).__name__})")
        policy = _policy(policy)
        fund = _nonnegative("insurance_fund", insurance_fund)
        res = _resilience(resilience)
        n_acc, n_mk = len(accounts), len(markets)
        n_assets = int(accounts._prices.shape[0])
        settle = _index_id("settlement_asset", settlement_asset, n_assets, "an asset index")
        if policy.execution == "book" and markets._books is None:
            raise ValueError(
                "markets has no books: an AccountEngine with execution='book' needs "
                "Markets(books=[...]) (or Policy(execution='takeover'))"
            )
        for name, col, top, what in (
            ("portfolio.account", portfolio._account, n_acc, "an account id"),
            ("portfolio.market", portfolio._market, n_mk, "a market id"),
        ):
            bad = first_bad(col < top)
            if bad is not None:
                raise ValueError(f"{name}[{bad}] must be {what} in [0, {top}) "
                                 f"(got {int(col[bad])})")
        n = len(portfolio)
        idv = self._checked_ids(ids, n)
        books = None if markets._books is None else [b.copy() for b in markets._books]
        self._setup({
            "account": portfolio._account.copy(), "market": portfolio._market.copy(),
            "size": portfolio._size.copy(), "entry_price": portfolio._entry_price.copy(),
            "ids": idv, "collateral": accounts._collateral.copy(), "accounts": accounts,
            "markets": markets, "books": books, "insurance_fund": fund, "policy": policy,
            "settlement_asset": settle,
            "recovery": None if res == 0.0 or books is None
            else [_Recovery(res, b.copy()) for b in books],
            "resilience": res,
            "next_id": int(idv.max()) + 1 if n else 0,
        })

    # ---- set-up ----------------------------------------------------------------------------

    def _setup(self, st: dict[str, Any]) -> None:
        acc: Accounts = st["accounts"]
        mk: Markets = st["markets"]
        self._policy: Policy = st["policy"]
        self._fund = float(st["insurance_fund"])
        self._settle = int(st["settlement_asset"])
        self._res = float(st["resilience"])
        self._next_id = int(st["next_id"])
        # accounts (prices, haircuts, size discounts fixed; balances carried)
        self._coll: F64 = np.ascontiguousarray(st["collateral"], dtype=np.float64)
        self._prices, self._haircuts, self._imf = acc._prices, acc._haircuts, acc._imf
        self._n_acc = int(self._coll.shape[0])
        # markets: a Markets without books at the current marks (rebuilt lazily)
        self._mk_base = Markets.with_marks(mk, mk._marks)
        self._mk_base._books = None
        self._marks: F64 = np.array(st.get("marks", mk._marks), dtype=np.float64)
        self._mk: Markets | None = None
        M = self._n_mk = len(mk)
        self._inv = np.array([c == "inverse" for c in mk._contract], dtype=np.bool_)
        self._cs = np.array(mk._contract_size, dtype=np.float64)
        rmax, cmax = np.zeros(M), np.zeros(M)
        for m in range(M):
            f, r = mk.tiers(m)
            cum = np.concatenate(([0.0], np.cumsum(f[1:] * np.diff(r))))
            rmax[m], cmax[m] = float(r.max()), float(np.abs(cum).max())
        self._rmax, self._cmax = rmax, cmax
        self._books: list[Book] | None = st["books"]
        self._shared = [False] * M
        self._all_shared = False
        self._rec: list[_Recovery] | None = st["recovery"]
        # positions, in slots
        q = np.asarray(st["size"], dtype=np.float64)
        self._alloc(int(q.shape[0]), q=q, ep=st["entry_price"], acc=st["account"],
                    mkt=st["market"], ids=st["ids"])
        self._reslot()
        # the per-market window index, keyed by account
        self._astamp = np.zeros(self._n_acc, dtype=np.int64)
        self._build_index()
        self._template = self._make_template()
        self.last_result: AccountLiquidationResult | None = None
        self.last_ids: I64 = np.empty(0, np.int64)

    def _reslot(self) -> None:
        """``_slot_of`` (id -> slot) and ``_slots_of`` (account -> its slots, ascending)."""
        live = np.flatnonzero(self._alive[: self._n])
        self._slot_of: dict[int, int] = dict(zip(self._ids[live].tolist(), live.tolist()))
        by: list[list[int]] = [[] for _ in range(self._n_acc)]
        for s, a in zip(live.tolist(), self._acc[live].tolist()):
            by[a].append(s)
        self._slots_of = by

    def _make_template(self) -> dict[str, Any]:
        e_f, e_i = _frozen(np.empty(0)), _frozen(np.empty(0, np.int64))
        e_b = _frozen(np.empty(0, np.bool_))
        z = _frozen(np.zeros(self._n_mk))
        ledger = _empty_ledger()
        t: dict[str, Any] = dict.fromkeys(
            ("closed", "book_closed", "fallback_closed", "vwap", "bankruptcy_price", "result",
             "deficit", "fee", "insurance_draw_by_position", "shortfall",
             "inventory_loss_by_position", "adl"), e_f)
        t.update({"account": e_i, "market": e_i, "liquidated": e_b, "sequence": e_i})
        accounts: dict[str, Any] = dict.fromkeys(AccountOutcomes.__dataclass_fields__, e_f)
        accounts.update(liquidated=e_b, sequence=e_i)
        t["accounts"] = AccountOutcomes(**accounts)
        t["markets"] = MarketOutcomes(z, z, z, z, z, z)
        t.update(dict.fromkeys(
            ("liquidated_notional", "total_deficit", "total_surplus", "total_fees",
             "inventory_loss", "inventory_gain", "unabsorbed", "bad_debt", "insurance_draw",
             "residual", "adl_transfers", "uncovered"), 0.0))
        t.update({"n_accounts": 0, "n_positions": 0, "ledger": ledger, "policy": self._policy})
        return t

    # ---- the window index ------------------------------------------------------------------

    def _build_index(self) -> None:
        M = self._n_mk
        self._down = [_SideIndex() for _ in range(M)]
        self._up = [_SideIndex() for _ in range(M)]
        self._thr: list[tuple[float, float] | None] = [None] * M
        self._dead = 0
        self._pending: set[int] = set()  # accounts with an always-open window
        held = np.flatnonzero(np.array([bool(s) for s in self._slots_of], dtype=np.bool_))
        self._reref(held, build=True)

    def _markets(self) -> Markets:
        """Markets at the current marks, without books (cached until a mark changes)."""
        mk = self._mk
        if mk is None:
            mk = self._mk = self._mk_base.with_marks(self._marks)
        return mk

    def _sub(self, accts: I64) -> tuple[Portfolio, Accounts, I64]:
        """The positions and accounts of ``accts`` (sorted), renumbered; and their slots."""
        lists = [self._slots_of[a] for a in accts.tolist()]
        sl = np.array([s for ls in lists for s in ls], dtype=np.int64)
        local = np.repeat(np.arange(accts.shape[0], dtype=np.int64),
                          [len(ls) for ls in lists])
        pf = Portfolio.__new__(Portfolio)
        pf._account, pf._market = local, self._mkt[sl]
        pf._size, pf._entry_price = self._q[sl], self._ep[sl]
        acc = Accounts.__new__(Accounts)
        acc._collateral = np.ascontiguousarray(self._coll[accts])
        acc._prices, acc._haircuts, acc._imf = self._prices, self._haircuts, self._imf
        return pf, acc, sl

    def _reref(self, accts: I64, build: bool = False) -> Any:
        """Exact health of the accounts ``accts`` (unique) at the current marks, and their
        windows re-centred there. Returns their ``liquidatable`` flags."""
        accts = np.unique(accts)
        M = self._n_mk
        self._astamp[accts] += 1
        self._dead += int(accts.shape[0])
        self._thr = [None] * M
        if accts.shape[0] == 0:
            return np.zeros(0, np.bool_)
        pf, acc, _ = self._sub(accts)
        h = health(pf, acc, self._markets())
        with np.errstate(all="ignore"):  # huge values: an inf/NaN budget is an always-open window
            return self._windows(accts, pf, acc, h, build)

    def _windows(self, accts: I64, pf: Portfolio, acc: Accounts, h: Health, build: bool) -> Any:
        M = self._n_mk
        q, ep, mkt, loc = pf._size, pf._entry_price, pf._market, pf._account
        aq = np.abs(q)
        P = self._marks[mkt]
        inv, cs = self._inv[mkt], self._cs[mkt]
        lip = np.where(inv, aq * cs / ep + self._cmax[mkt], aq * (1.0 + self._rmax[mkt]))
        lip = np.where(q != 0.0, lip, 0.0)
        scale = np.where(inv, aq * cs * (1.0 + P / ep) + self._cmax[mkt] * P, aq * (P + ep))
        k = accts.shape[0]
        L = np.bincount(loc * M + mkt, weights=lip, minlength=k * M).reshape(k, M)
        sc = np.bincount(loc, weights=scale, minlength=k)
        gross = (np.abs(acc._collateral) * self._prices).sum(axis=1)
        slack = _SLACK * (gross + sc + np.abs(h.equity) + np.abs(h.maintenance))
        budget = (h.equity - h.maintenance) - slack
        held = L > 0.0
        K = held.sum(axis=1)
        ok = budget > 0.0  # NaN: always open
        pend = self._pending
        pend.difference_update(accts.tolist())
        pend.update(accts[~ok & (K > 0)].tolist())
        d = np.where(held, (budget / np.maximum(K, 1))[:, None] / L, 0.0)
        for m in range(M):
            rows = np.flatnonzero(held[:, m] & ok)
            if rows.shape[0] == 0 and not build:
                continue
            a = accts[rows]
            p = float(self._marks[m])
            dm = d[rows, m]
            lo = p - dm
            hi = -(p + dm)
            lo[np.isnan(lo)] = math.inf  # undefined: always a candidate (the exact rule decides)
            hi[np.isnan(hi)] = math.inf
            self._down[m].put(lo, a, self._astamp, build)
            self._up[m].put(hi, a, self._astamp, build)
        if not build and self._dead > 4 * max(self._n_acc, _MERGE):
            self._build_index()
        return h.liquidatable

    def _thresholds(self, m: int) -> tuple[float, float]:
        t = self._thr[m]
        if t is None:
            t = self._thr[m] = (self._down[m].top(self._astamp), -self._up[m].top(self._astamp))
        return t

    def _crossed(self, markets: Any) -> I64 | None:
        """The accounts whose window a current mark of ``markets`` left, and those whose window
        is always open (None: none)."""
        out: list[I64] = []
        if self._pending:
            out.append(np.array(sorted(self._pending), dtype=np.int64))
        for m in markets:
            p = float(self._marks[m])
            tl, ts = self._thresholds(m)
            if p < tl:
                out.append(self._down[m].candidates(p, self._astamp))
            if p > ts:
                out.append(self._up[m].candidates(-p, self._astamp))
        if not out:
            return None
        return np.concatenate(out)

    # ---- the pass --------------------------------------------------------------------------

    def _check(self, markets: Any, name: str) -> AccountLiquidationResult:
        """Detection after a change of the marks of ``markets`` (or of positions): the pass if
        any account is liquidatable, else the empty result; then the books recover."""
        c = self._crossed(markets)
        r = None
        if c is not None and c.shape[0]:
            liq = self._reref(c)
            if liq.any():
                r = self._pass(name)
        out = self._empty() if r is None else r
        if r is None:
            self.last_ids = _NO_IDS
        if self._rec is not None:
            self._recover()
        self.last_result = out
        return out

    def _portfolio_of(self, slots: I64) -> Portfolio:
        pf = Portfolio.__new__(Portfolio)
        pf._account, pf._market = self._acc[slots], self._mkt[slots]
        pf._size, pf._entry_price = self._q[slots], self._ep[slots]
        return pf

    def _accounts_obj(self, coll: F64) -> Accounts:
        acc = Accounts.__new__(Accounts)
        acc._collateral = coll
        acc._prices, acc._haircuts, acc._imf = self._prices, self._haircuts, self._imf
        return acc

    def _markets_with_books(self) -> Markets:
        mk = Markets.with_marks(self._markets(), self._marks)
        mk._books = None if self._books is None else list(self._books)
        return mk

    def _pass(self, name: str) -> AccountLiquidationResult:
        slots = self._open_slots()
        try:
            r = liquidate_accounts(self._portfolio_of(slots), self._accounts_obj(self._coll),
                                   self._markets_with_books(), self._policy, self._fund)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        q = self._q[slots]
        closed = r.closed
        liq = r.liquidated
        gone = liq & (closed >= np.abs(q))
        part = liq & ~gone & (closed > 0.0)
        if part.any():
            sp = slots[part]
            self._q[sp] = q[part] - np.where(q[part] > 0.0, closed[part], -closed[part])
        g = slots[gone]
        self._alive[g] = False
        self._open -= int(g.shape[0])
        for s, a, i in zip(g.tolist(), self._acc[g].tolist(), self._ids[g].tolist()):
            self._slots_of[a].remove(s)
            del self._slot_of[i]
        # collateral: liquidated accounts settle; ADL charges are paid
        hit = np.flatnonzero(r.accounts.liquidated)
        px = float(self._prices[self._settle])
        if hit.shape[0]:
            pf, acc, _ = self._sub(hit)
            with np.errstate(all="ignore"):
                rest = self._market_equity(pf, acc)
                self._coll[hit, self._settle] += (r.accounts.equity_after[hit] - rest) / px
        charged = np.empty(0, np.int64)
        adl = r.adl
        if adl.shape[0] and (adl != 0.0).any():
            nz = np.flatnonzero(adl != 0.0)
            per = np.bincount(r.account[nz], weights=adl[nz], minlength=self._n_acc)
            charged = np.unique(r.account[nz])
            with np.errstate(all="ignore"):
                self._coll[charged, self._settle] -= per[charged] / px
        if r.books is not None:
            self._books = list(r.books)
            self._shared = [True] * self._n_mk
            if self._rec is not None:
                for rec in self._rec:
                    rec.depleted = True
        self._fund = float(r.insurance_fund)
        self.last_ids = self._ids[slots]
        self._reref(np.concatenate([hit, charged]))
        self._compact()
        return r

    def _market_equity(self, pf: Portfolio, acc: Accounts) -> F64:
        """Per account of ``acc``: ``Σ_k c_k·price_k`` (asset order) + Σ PnL at the marks in
        quote (position order)."""
        c = acc._collateral
        e = c[:, 0] * self._prices[0]
        for k in range(1, c.shape[1]):
            e = e + c[:, k] * self._prices[k]
        mkt, q, ep = pf._market, pf._size, pf._entry_price
        P, cs = self._marks[mkt], self._cs[mkt]
        pnl = np.where(self._inv[mkt], q * cs * (1.0 / ep - 1.0 / P) * P, q * (P - ep))
        for i, a in enumerate(pf._account.tolist()):  # sequential, in position order
            e[a] = e[a] + pnl[i]
        out: F64 = e
        return out

    def _recovering(self) -> bool:
        rec = self._rec
        return rec is not None and any(r.depleted for r in rec)

    def _recover(self) -> None:
        assert self._rec is not None
        assert self._books is not None
        for m, rec in enumerate(self._rec):
            if rec.depleted:
                rec.recover(self._own_book(m))

    def _own_book(self, m: int) -> Book:
        assert self._books is not None
        self._all_shared = False
        if self._shared[m]:
            self._books[m] = self._books[m].copy()
            self._shared[m] = False
        return self._books[m]

    def _compact(self) -> bool:
        if not super()._compact():
            return False
        self._reslot()
        return True

    def _empty(self) -> AccountLiquidationResult:
        r = object.__new__(AccountLiquidationResult)
        d = r.__dict__
        d.update(self._template)
        d["insurance_fund"] = d["insurance_fund_before"] = self._fund
        if self._books is None:
            d["books"] = None
        else:
            d["books"] = list(self._books)
            if not self._all_shared:
                self._shared = [True] * self._n_mk
                self._all_shared = True
        return r

    # ---- events: marks and books ------------------------------------------------------------

    def _market(self, name: str, market: Any) -> int:
        return _index_id(name, market, self._n_mk, "a market id")

    def on_mark(self, market: int, price: float) -> AccountLiquidationResult:
        """Market ``market``'s mark moves to ``price`` (finite, > 0): liquidates what is
        liquidatable there. O(1) when ``price`` stays inside every window of the market."""
        m = (market if type(market) is int and 0 <= market < self._n_mk
             else self._market("market", market))
        p = price if type(price) is float and 0.0 < price < math.inf else _positive("price", price)
        t = self._thr[m]
        if t is None:
            t = self._thresholds(m)
        if t[0] <= p <= t[1] and not self._pending and not self._recovering():
            self._marks[m] = p  # quiet: inside every window of the market
            self._mk = None
            out = self._empty()
            self.last_ids = _NO_IDS
            self.last_result = out
            return out
        prev = float(self._marks[m])
        self._marks[m] = p
        self._mk = None
        try:
            return self._check((m,), f"price {p!r}")
        except ValueError:
            self._marks[m] = prev
            self._mk = None
            raise

    def on_marks(self, prices: Any) -> AccountLiquidationResult:
        """Several marks at once, atomically (all set, then one detection and at most one
        pass): a mapping ``{market: price}`` or an array with one price per market."""
        if isinstance(prices, Mapping):
            ms: list[int] = []
            ps: list[float] = []
            for k, v in prices.items():
                m = _index_id(f"prices key {k!r}", k, self._n_mk, "a market id")
                p = _real(f"prices[{m}]", v)
                if not (0.0 < p < math.inf):
                    raise ValueError(f"prices[{m}] must be finite and > 0 (got {p!r})")
                ms.append(m)
                ps.append(p)
            idx = np.array(ms, dtype=np.int64)
            val = np.array(ps, dtype=np.float64)
        else:
            val = as_f64("prices", prices)
            if val.ndim != 1 or val.shape[0] != self._n_mk:
                raise ValueError(f"prices must have one price per market ({self._n_mk}) "
                                 f"(got shape {val.shape})")
            bad = first_bad(np.isfinite(val) & (val > 0.0))
            if bad is not None:
                raise ValueError(f"prices[{bad}] must be finite and > 0 (got {float(val[bad])!r})")
            idx = np.arange(self._n_mk, dtype=np.int64)
        prev = self._marks.copy()
        self._marks[idx] = val
        self._mk = None
        try:
            return self._check(np.unique(idx).tolist(), "prices")
        except ValueError:
            self._marks = prev
            self._mk = None
            raise

    def _need_books(self) -> list[Book]:
        if self._books is None:
            raise ValueError("the engine has no books (its markets were given without books)")
        return self._books

    def apply(self, market: int, side: Any, px: Any, qty: Any) -> None:
        """L2 updates of market ``market``'s book, as :meth:`liqcore.Book.apply` (absolute
        quantities; 0 deletes the level). Triggers nothing. With resilience the update sets the
        level in the base book too."""
        m = self._market("market", market)
        self._need_books()
        if self._rec is not None:
            self._rec[m].base.apply(side, px, qty)
        self._own_book(m).apply(side, px, qty)

    def set_book(self, market: int, book: Book) -> None:
        """Replaces market ``market``'s book by a copy of ``book`` (a snapshot). Triggers
        nothing."""
        m = self._market("market", market)
        books = self._need_books()
        books[m] = _check_book(book).copy()
        self._shared[m] = False
        self._all_shared = False
        if self._rec is not None:
            self._rec[m].reset(book)

    # ---- events: positions and collateral ---------------------------------------------------

    def _after(self, accts: list[int]) -> AccountLiquidationResult:
        self._reref(np.array(accts, dtype=np.int64))
        return self._check(range(self._n_mk), "event")

    def _slot(self, id: Any) -> int:
        key = self._id_key(id)
        s = self._slot_of.get(key)
        if s is None:
            raise self._no_position(key)
        return s

    def open(self, account: int, market: int, size: float, entry_price: float) -> int:
        """Opens a position of ``account`` in ``market`` and returns its new id. The account
        may be liquidatable at once: the pass's result (or an empty one) is
        :attr:`last_result`."""
        a = _index_id("account", account, self._n_acc, "an account id")
        m = self._market("market", market)
        q = finite("size", _real("size", size))
        ep = _positive("entry_price", entry_price)
        s, new_id = self._new_slot()
        self._q[s], self._ep[s], self._acc[s], self._mkt[s] = q, ep, a, m
        self._slots_of[a].append(s)
        self._after([a])
        return new_id

    def update(self, id: int, size: float | None = None, *,
               entry_price: float | None = None) -> AccountLiquidationResult:
        """Sets a position's size and/or entry price (None keeps it); returns what this
        triggers at the current marks (or an empty result)."""
        q0 = None if size is None else finite("size", _real("size", size))
        ep0 = None if entry_price is None else _positive("entry_price", entry_price)
        s = self._slot(id)
        if q0 is not None:
            self._q[s] = q0
        if ep0 is not None:
            self._ep[s] = ep0
        return self._after([int(self._acc[s])])

    def close(self, id: int) -> AccountLiquidationResult:
        """Removes a position (closed by its owner, its PnL not realized into collateral: use
        :meth:`deposit` for that); returns what triggers at the current marks."""
        s = self._slot(id)
        a = int(self._acc[s])
        self._alive[s] = False
        self._open -= 1
        del self._slot_of[int(id)]
        self._slots_of[a].remove(s)
        out = self._after([a])
        self._compact()
        return out

    def _asset(self, asset: Any) -> int:
        if asset is None:
            return self._settle
        return _index_id("asset", asset, int(self._prices.shape[0]), "an asset index")

    def deposit(self, account: int, amount: float, asset: int | None = None
                ) -> AccountLiquidationResult:
        """Adds ``amount`` (finite, > 0, asset units) to an account's balance in ``asset``
        (the settlement asset by default)."""
        a = _index_id("account", account, self._n_acc, "an account id")
        k = self._asset(asset)
        v = _positive("amount", amount)
        self._coll[a, k] = self._coll[a, k] + v
        return self._after([a])

    def withdraw(self, account: int, amount: float, asset: int | None = None
                 ) -> AccountLiquidationResult:
        """Takes ``amount`` (finite, > 0, at most the balance) from an account's balance in
        ``asset``. ValueError if that would make the account liquidatable at the current
        marks; the state is then unchanged."""
        a = _index_id("account", account, self._n_acc, "an account id")
        k = self._asset(asset)
        v = _positive("amount", amount)
        bal = float(self._coll[a, k])
        if v > bal:
            raise ValueError(f"amount must be <= the balance of account {a} in asset {k} "
                             f"({bal!r}) (got {v!r})")
        self._coll[a, k] = bal - v
        pf, acc, _ = self._sub(np.array([a], dtype=np.int64))
        h = health(pf, acc, self._markets())
        if bool(h.liquidatable[0]):
            self._coll[a, k] = bal
            raise ValueError(
                f"withdraw: amount {v!r} would make account {a} liquidatable at the current "
                f"marks (TNC {float(h.equity[0])!r} < TMMR {float(h.maintenance[0])!r})"
            )
        return self._after([a])

    # ---- state out -------------------------------------------------------------------------

    @property
    def portfolio(self) -> Portfolio:
        """The open positions (copies) in the engine's order."""
        return self._portfolio_of(self._open_slots())

    @property
    def collateral(self) -> F64:
        """The balances, accounts x assets (a copy)."""
        return self._coll.copy()

    @property
    def accounts(self) -> Accounts:
        """The accounts with their current balances (a copy)."""
        return self._accounts_obj(self._coll.copy())

    @property
    def marks(self) -> F64:
        """The current marks (a copy)."""
        return self._marks.copy()

    @property
    def markets(self) -> Markets:
        """The markets at the current marks, with copies of the current books."""
        mk = Markets.with_marks(self._markets(), self._marks)
        mk._books = None if self._books is None else [b.copy() for b in self._books]
        return mk

    @property
    def books(self) -> list[Book] | None:
        """Copies of the current books (None without books)."""
        return None if self._books is None else [b.copy() for b in self._books]

    @property
    def base_books(self) -> list[Book] | None:
        """Copies of the base books the books recover toward (the books without resilience)."""
        if self._rec is None:
            return self.books
        return [r.base.copy() for r in self._rec]

    @property
    def resilience(self) -> float:
        return self._res

    @property
    def settlement_asset(self) -> int:
        return self._settle

    def health(self) -> Health:
        """:func:`liqcore.health` of every account at the current state."""
        return health(self.portfolio, self._accounts_obj(self._coll), self._markets())

    def __repr__(self) -> str:
        return (f"AccountEngine(positions={self._open}, accounts={self._n_acc}, "
                f"markets={self._n_mk}, insurance_fund={self._fund!r})")

    def __getstate__(self) -> dict[str, Any]:
        s = self._open_slots()
        mk = self._mk_base
        spec = {
            "marks": self._marks.copy(), "contract": list(mk._contract),
            "contract_size": mk._contract_size.copy(),
            "tiers": [dict(zip(("floors", "mmr"), mk.tiers(m))) for m in range(len(mk))],
        }
        return {
            "account": self._acc[s], "market": self._mkt[s], "size": self._q[s],
            "entry_price": self._ep[s], "ids": self._ids[s], "collateral": self._coll.copy(),
            "accounts": self._accounts_obj(self._coll.copy()), "markets": spec,
            "marks": self._marks.copy(),
            "books": None if self._books is None else [b.copy() for b in self._books],
            "insurance_fund": self._fund, "policy": self._policy,
            "settlement_asset": self._settle, "recovery": self._rec,
            "resilience": self._res, "next_id": self._next_id,
        }

    def __setstate__(self, st: dict[str, Any]) -> None:
        spec = st["markets"]
        st = dict(st, markets=Markets(spec["marks"], tiers=spec["tiers"],
                                      contract=spec["contract"],
                                      contract_size=spec["contract_size"]))
        self._setup(st)
